//! Several decoders in order, the first that reads something wins: a cheap or robust decoder
//! first, a different algorithm as a fallback for the frames it misses.
//!
//! At the door a camera delivers a frame every 33 ms showing nearly the same scene, so the scan
//! loop need not finish every retry on one frame: [`Chain::decode_within`] runs the fast first
//! decoder, then retries only while they fit in a time budget, and the next frame resumes the
//! retries where this one stopped. A hard frame then costs about one decoder's time per frame
//! instead of tens of milliseconds at once, and the whole chain is still tried within a few
//! frames.

use std::time::{Duration, Instant};

use super::{DecodeError, Decoder};
use crate::frame::Frame;

/// Tries its decoders in order until one reads a code.
pub struct Chain {
    decoders: Vec<Box<dyn Decoder + Send + Sync>>,
}

/// Where the next frame resumes a chain's decoders (see [`Chain::decode_within`]), and what each
/// cost when it last ran; one per scan loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    next: usize,
    last_cost: Vec<Duration>,
}

impl Chain {
    /// A chain over `decoders`, tried first to last.
    pub fn new(decoders: Vec<Box<dyn Decoder + Send + Sync>>) -> Self {
        Self { decoders }
    }

    /// Runs the decoders from where `resume` says (the fast first one on a fresh frame): the
    /// first of them always, so every frame moves the chain on, and each further one only if
    /// its cost when it last ran still fits in what is left of `budget`. So a frame costs about
    /// the larger of the budget and one decoder, never a fast pass plus a slow retry. Decoders
    /// left over wait for the next frame; after the last one (or a read) the next frame starts
    /// over. With nothing read the result is like [`Decoder::decode`]'s: `Ok(vec![])` or the
    /// most telling failure.
    pub fn decode_within(
        &self,
        frame: &Frame,
        budget: Duration,
        resume: &mut Resume,
    ) -> Result<Vec<String>, DecodeError> {
        let started = Instant::now();
        resume.last_cost.resize(self.decoders.len(), Duration::ZERO);
        let from = if resume.next < self.decoders.len() {
            resume.next
        } else {
            0
        };
        let mut failure = Failure::default();
        for (index, decoder) in self.decoders.iter().enumerate().skip(from) {
            if index > from && started.elapsed() + resume.last_cost[index] > budget {
                resume.next = index;
                return failure.into_result();
            }
            let began = Instant::now();
            let result = decoder.decode(frame);
            resume.last_cost[index] = began.elapsed();
            if let Some(texts) = failure.note(result) {
                resume.next = 0;
                return Ok(texts);
            }
        }
        resume.next = 0;
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
    fn without_budget_left_each_frame_moves_the_chain_on_by_one() {
        let (chain, calls) = chain(&[None, None, None, Some("票")]);
        let frame = Frame::new(4, 4, vec![0; 16]).expect("frame");
        let mut resume = Resume::default();
        let none = Duration::ZERO;
        for expected in [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]] {
            assert_eq!(chain.decode_within(&frame, none, &mut resume), Ok(vec![]));
            assert_eq!(counts(&calls), expected);
        }
        assert_eq!(
            chain.decode_within(&frame, none, &mut resume),
            Ok(vec!["票".to_owned()])
        );
        assert_eq!(counts(&calls), [1, 1, 1, 1]);
        // A read starts the next frame over, with the fast pass.
        assert_eq!(chain.decode_within(&frame, none, &mut resume), Ok(vec![]));
        assert_eq!(counts(&calls), [2, 1, 1, 1]);
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
        assert_eq!(resume.next, 0);
        assert_eq!(chain.decode(&frame), Ok(vec![]));
        assert_eq!(counts(&calls), [2, 2, 2]);
    }

    /// Reads nothing, slowly.
    struct Slow(std::sync::Arc<AtomicUsize>);

    impl Decoder for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        fn detect(&self, _: &Frame) -> Result<Vec<String>, DecodeError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(15));
            Ok(vec![])
        }
    }

    #[test]
    fn a_retry_known_not_to_fit_waits_for_a_frame_of_its_own() {
        let slow_calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (fast, fast_calls) = chain(&[None]);
        let chain = Chain::new(vec![
            Box::new(fast),
            Box::new(Slow(std::sync::Arc::clone(&slow_calls))),
        ]);
        let frame = Frame::new(4, 4, vec![0; 16]).expect("frame");
        let budget = Duration::from_millis(10);
        let mut resume = Resume::default();
        let runs = |resume: &mut Resume| {
            assert_eq!(chain.decode_within(&frame, budget, resume), Ok(vec![]));
            (counts(&fast_calls)[0], slow_calls.load(Ordering::SeqCst))
        };
        // Its cost unknown, the slow retry runs after the fast pass once...
        assert_eq!(runs(&mut resume), (1, 1));
        // ...and from then on alone, on the frame after a fast pass.
        assert_eq!(runs(&mut resume), (2, 1));
        assert_eq!(runs(&mut resume), (2, 2));
        assert_eq!(runs(&mut resume), (3, 2));
    }
}
