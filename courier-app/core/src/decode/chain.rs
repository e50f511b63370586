//! Several decoders in order, the first that reads something wins: a cheap or robust decoder
//! first, a different algorithm as a fallback for the frames it misses.
//!
//! At the door a camera delivers a frame every 33 ms showing nearly the same scene, so the scan
//! loop need not finish every retry on one frame: [`Chain::decode_within`] runs the fast first
//! decoder, then retries only while a time budget lasts, and the next frame resumes the retries
//! where this one stopped. A hard frame then costs a bounded time per frame instead of tens of
//! milliseconds at once, and the whole chain is still tried within a few frames.

use std::time::{Duration, Instant};

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// Tries its decoders in order until one reads a code.
pub struct Chain {
    decoders: Vec<Box<dyn Decoder + Send + Sync>>,
}

/// Where the next frame resumes a chain's retries (see [`Chain::decode_within`]); one per scan
/// loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    next_retry: usize,
}

impl Chain {
    /// A chain over `decoders`, tried first to last.
    pub fn new(decoders: Vec<Box<dyn Decoder + Send + Sync>>) -> Self {
        Self { decoders }
    }

    /// Runs the first decoder, then the retries from where `resume` says: the first of them
    /// always (so every frame moves the retries on), each further one only while less than
    /// `budget` has passed since the call began. Retries left over wait for the next frame;
    /// after the last one (or a read) the next frame starts over. With nothing read the result
    /// is like [`Decoder::decode`]'s: `Ok(vec![])` or the most telling failure.
    pub fn decode_within(
        &self,
        frame: &Frame,
        budget: Duration,
        resume: &mut Resume,
    ) -> Result<Vec<String>, DecodeError> {
        let started = Instant::now();
        let Some((first, retries)) = self.decoders.split_first() else {
            return Ok(vec![]);
        };
        let mut failure = Failure::default();
        if let Some(texts) = failure.note(first.decode(frame)) {
            *resume = Resume::default();
            return Ok(texts);
        }
        let from = resume.next_retry.min(retries.len());
        for (index, retry) in retries.iter().enumerate().skip(from) {
            if index > from && started.elapsed() >= budget {
                resume.next_retry = index;
                return failure.into_result();
            }
            if let Some(texts) = failure.note(retry.decode(frame)) {
                *resume = Resume::default();
                return Ok(texts);
            }
        }
        *resume = Resume::default();
        failure.into_result()
    }
}

/// The most telling failure so far: an unreadable code over a panic, and any error over
/// "nothing in view".
#[derive(Default)]
struct Failure(Option<DecodeError>);

impl Failure {
    /// Keeps `result`'s error if it tells more; returns the texts if it read something.
    fn note(&mut self, result: Result<Vec<String>, DecodeError>) -> Option<Vec<String>> {
        match result {
            Ok(texts) if !texts.is_empty() => return Some(texts),
            Ok(_) => {}
            Err(e) => {
                let replace = matches!(
                    (&self.0, &e),
                    (None, _)
                        | (
                            Some(DecodeError::Panicked { .. }),
                            DecodeError::Unreadable { .. }
                        )
                );
                if replace {
                    self.0 = Some(e);
                }
            }
        }
        None
    }

    fn into_result(self) -> Result<Vec<String>, DecodeError> {
        self.0.map_or(Ok(vec![]), Err)
    }
}

impl Decoder for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    /// Each member goes through its own (isolated) `decode`, so one member's panic does not
    /// cost the others their turn.
    fn detect(&self, frame: &Frame) -> Result<Vec<String>, DecodeError> {
        self.decode_within(frame, Duration::MAX, &mut Resume::default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Reads `text` (if any) and counts its calls.
    struct Fixed {
        text: Option<&'static str>,
        calls: std::sync::Arc<AtomicUsize>,
    }

    impl Decoder for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn detect(&self, _: &Frame) -> Result<Vec<String>, DecodeError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.text.iter().map(|t| (*t).to_owned()).collect())
        }
    }

    fn chain(texts: &[Option<&'static str>]) -> (Chain, Vec<std::sync::Arc<AtomicUsize>>) {
        let calls: Vec<_> = texts.iter().map(|_| Default::default()).collect();
        let decoders = texts
            .iter()
            .zip(&calls)
            .map(|(&text, calls)| {
                Box::new(Fixed {
                    text,
                    calls: std::sync::Arc::clone(calls),
                }) as Box<dyn Decoder + Send + Sync>
            })
            .collect();
        (Chain::new(decoders), calls)
    }

    fn counts(calls: &[std::sync::Arc<AtomicUsize>]) -> Vec<usize> {
        calls.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    #[test]
    fn without_budget_left_each_frame_runs_the_fast_pass_and_one_more_retry() {
        let (chain, calls) = chain(&[None, None, None, Some("票")]);
        let frame = Frame::new(4, 4, vec![0; 16]).expect("frame");
        let mut resume = Resume::default();
        let none = Duration::ZERO;
        assert_eq!(chain.decode_within(&frame, none, &mut resume), Ok(vec![]));
        assert_eq!(counts(&calls), [1, 1, 0, 0]);
        assert_eq!(chain.decode_within(&frame, none, &mut resume), Ok(vec![]));
        assert_eq!(counts(&calls), [2, 1, 1, 0]);
        assert_eq!(
            chain.decode_within(&frame, none, &mut resume),
            Ok(vec!["票".to_owned()])
        );
        assert_eq!(counts(&calls), [3, 1, 1, 1]);
        // A read starts the next frame over.
        assert_eq!(resume, Resume::default());
    }

    #[test]
    fn with_budget_the_whole_chain_runs_on_one_frame_and_wraps_around() {
        let (chain, calls) = chain(&[None, None, None]);
        let frame = Frame::new(4, 4, vec![0; 16]).expect("frame");
        let mut resume = Resume::default();
        assert_eq!(
            chain.decode_within(&frame, Duration::from_secs(60), &mut resume),
            Ok(vec![])
        );
        assert_eq!(counts(&calls), [1, 1, 1]);
        assert_eq!(resume, Resume::default());
        assert_eq!(chain.decode(&frame), Ok(vec![]));
        assert_eq!(counts(&calls), [2, 2, 2]);
    }
}
