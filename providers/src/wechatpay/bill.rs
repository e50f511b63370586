//! The trade bill file (交易账单, `bill_type=ALL`) read into rows, for reconciling the plant's
//! orders with what WeChat Pay settled.
//!
//! 下载账单 (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_8.shtml>): a header line of
//! column names, one line per transaction with every field prefixed by a backtick (so that
//! spreadsheet programs keep long numbers as text), then a summary header and one summary line.
//! Columns are found by name, so that a column WeChat Pay adds does not shift the others.

use crate::amount::yuan_to_fen;
use crate::provider::ProviderError;

/// One transaction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 交易时间 (`2026-01-01 10:00:00`, Beijing).
    pub trade_time: String,
    /// 微信订单号.
    pub transaction_id: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 交易类型.
    pub trade_type: String,
    /// 交易状态 (`SUCCESS`, `REFUND`…).
    pub trade_state: String,
    /// 应结订单金额, fen.
    pub settled_fen: u64,
    /// 退款金额, fen.
    pub refund_fen: u64,
}

/// A whole bill: its lines and the summary's count and settled total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeBillFile {
    /// The transaction lines, in file order.
    pub rows: Vec<BillRow>,
    /// 总交易单数.
    pub count: u64,
    /// 应结订单总金额, fen.
    pub settled_total_fen: u64,
}

fn malformed(what: &str) -> ProviderError {
    ProviderError::Transport(format!("trade bill: {what}"))
}

fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| f.trim().trim_start_matches('`'))
        .collect()
}

/// Reads a bill file; refuses one whose summary does not add up to its lines.
pub fn parse_trade_bill(text: &str) -> Result<TradeBillFile, ProviderError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = fields(lines.next().ok_or_else(|| malformed("empty"))?);
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| malformed(&format!("no column {name}")))
    };
    let columns = [
        column("交易时间")?,
        column("微信订单号")?,
        column("商户订单号")?,
        column("交易类型")?,
        column("交易状态")?,
        column("应结订单金额")?,
        column("退款金额")?,
    ];
    let fen = |text: &str| yuan_to_fen(text).ok_or_else(|| malformed(&format!("amount {text:?}")));
    let mut rows = Vec::new();
    let mut summary_header = None;
    for line in lines.by_ref() {
        if line.starts_with("总交易单数") {
            summary_header = Some(fields(line));
            break;
        }
        let f = fields(line);
        let get = |i: usize| {
            f.get(columns[i])
                .copied()
                .ok_or_else(|| malformed("short line"))
        };
        rows.push(BillRow {
            trade_time: get(0)?.to_owned(),
            transaction_id: get(1)?.to_owned(),
            out_trade_no: get(2)?.to_owned(),
            trade_type: get(3)?.to_owned(),
            trade_state: get(4)?.to_owned(),
            settled_fen: fen(get(5)?)?,
            refund_fen: fen(get(6)?)?,
        });
    }
    let summary_header = summary_header.ok_or_else(|| malformed("no summary"))?;
    let summary = fields(lines.next().ok_or_else(|| malformed("no summary line"))?);
    let total = |name: &str| {
        summary_header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| summary.get(i).copied())
            .ok_or_else(|| malformed(&format!("no summary {name}")))
    };
    let count: u64 = total("总交易单数")?
        .parse()
        .map_err(|_| malformed("count"))?;
    let settled_total_fen = fen(total("应结订单总金额")?)?;
    let sum: u64 = rows.iter().map(|r| r.settled_fen).sum();
    if count != rows.len() as u64 || settled_total_fen != sum {
        return Err(malformed("the summary does not add up to the lines"));
    }
    Ok(TradeBillFile {
        rows,
        count,
        settled_total_fen,
    })
}
