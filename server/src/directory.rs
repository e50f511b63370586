//! Finding customers: what support types — a mobile number, a book number or pasted QR text, a
//! name, login or address fragment — read once into a [`SearchKey`], for the ticket search and
//! the customer directory alike, and the directory's pages of accounts.

use shuipiao_shared::credential::SignedCredential;
use shuipiao_shared::ids::BookId;

use crate::config::MasterKey;
use crate::pii::Phone;
use crate::store::directory::{CustomerFilter, CustomerRow};
use crate::store::{Store, StoreError};

/// Accounts on one page of the directory.
pub const PAGE_SIZE: u32 = 50;

/// What a support search looks for.
#[derive(Debug, PartialEq, Eq)]
pub enum SearchKey {
    /// A customer's mobile number (found through its blind index).
    Phone(Phone),
    /// A book id (typed, or read from pasted QR text) and the text for names and logins.
    Text(Option<BookId>, String),
}

/// Reads a search box; the error is the zh-CN message for pasted QR text that is not a ticket.
pub fn search_key(query: &str) -> Result<SearchKey, &'static str> {
    let text = query.trim();
    if let Ok(phone) = Phone::parse(text) {
        return Ok(SearchKey::Phone(phone));
    }
    if text
        .get(..3)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("SP1"))
    {
        let credential = SignedCredential::from_qr_text(&text.to_ascii_uppercase())
            .map_err(|_| "二维码内容无法识别,请确认粘贴完整(以 SP1 开头)")?;
        return Ok(SearchKey::Text(
            Some(credential.credential.book_id),
            text.to_ascii_uppercase(),
        ));
    }
    Ok(SearchKey::Text(
        text.parse().ok().map(BookId),
        text.to_string(),
    ))
}

/// Why a directory search found nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The search box holds something unreadable; the zh-CN message says what.
    #[error("{0}")]
    Invalid(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// The accounts, newest first.
    pub customers: Vec<CustomerRow>,
    /// Whether another page follows.
    pub more: bool,
}

/// The accounts `query` finds (every account when it is empty), with an address in `region` if
/// one is given, page `page` from 0. A mobile number finds its user's account, a book number or
/// pasted QR text the book's account (falling back to text when no book has that number), and
/// other text names, logins and addresses.
pub async fn find(
    store: &Store,
    master: &MasterKey,
    query: &str,
    region: Option<i64>,
    page: u32,
) -> Result<Directory, DirectoryError> {
    let mut filter = CustomerFilter {
        region,
        ..CustomerFilter::default()
    };
    match search_key(query).map_err(DirectoryError::Invalid)? {
        SearchKey::Phone(phone) => {
            let account = match store.user_by_phone(&phone.index(master)).await {
                Ok(user) => user.spec.account_id,
                Err(StoreError::NotFound) => None,
                Err(err) => return Err(err.into()),
            };
            let Some(account) = account else {
                return Ok(Directory {
                    customers: Vec::new(),
                    more: false,
                });
            };
            filter.account = Some(account);
        }
        SearchKey::Text(id, text) => {
            let book = match id {
                Some(id) => match store.book(id).await {
                    Ok(book) => Some(book),
                    Err(StoreError::NotFound) => None,
                    Err(err) => return Err(err.into()),
                },
                None => None,
            };
            match book {
                Some(book) => filter.account = Some(book.issued.account_id),
                None if text.is_empty() => {}
                None => filter.text = Some(text),
            }
        }
    }
    let offset = page.saturating_mul(PAGE_SIZE);
    let mut customers = store.customers(&filter, PAGE_SIZE + 1, offset).await?;
    let more = customers.len() > PAGE_SIZE as usize;
    customers.truncate(PAGE_SIZE as usize);
    Ok(Directory { customers, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_read_phones_ids_qr_text_and_names() {
        assert_eq!(
            search_key(" 42 "),
            Ok(SearchKey::Text(Some(BookId(42)), "42".into()))
        );
        assert_eq!(
            search_key("张伟家"),
            Ok(SearchKey::Text(None, "张伟家".into()))
        );
        assert_eq!(
            search_key("138 1234 5678"),
            Ok(SearchKey::Phone(Phone::parse("13812345678").unwrap()))
        );
        assert!(search_key("SP1NOTACODE").is_err());
    }
}
