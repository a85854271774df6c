//! The mutation harness: inputs made from a valid one by truncation, bit flips, overwritten
//! runs, huge length fields and random bytes, and a runner that fails on a panic, a slow input,
//! a single allocation over `ALLOCATION_LIMIT` (a counting global allocator records the largest
//! request) or an error that does not name its source. Shared by the data crate's parsers and
//! the weights and backup files (`tests/mutations.rs` at the root).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, remembering the largest single request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// The largest request is counted for the whole process, so the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// No single allocation may exceed this while parsing inputs of a few kilobytes.
const ALLOCATION_LIMIT: usize = 64 << 20;
/// Nor may one input take longer than this.
const TIME_LIMIT: Duration = Duration::from_secs(2);

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `count` inputs made from `valid`: every truncation (up to 600 of them), then by turns bit
/// flips, overwritten runs of bytes, a 32-bit field set to a huge value, and random bytes.
pub fn mutations(valid: &[u8], count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let step = (valid.len() / 600).max(1);
    let mut out: Vec<Vec<u8>> = (0..valid.len())
        .step_by(step)
        .map(|n| valid[..n].to_vec())
        .collect();
    while out.len() < count {
        let mut m = valid.to_vec();
        match out.len() % 4 {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let bit = rng.below(m.len() * 8);
                    m[bit / 8] ^= 1 << (bit % 8);
                }
            }
            1 => {
                let at = rng.below(m.len());
                let len = 1 + rng.below(16).min(m.len() - at - 1);
                for b in &mut m[at..at + len] {
                    *b = rng.next() as u8;
                }
            }
            2 => {
                let at = rng.below(m.len().saturating_sub(4));
                let huge = [0xFFFF_FFFFu32, 0x7FFF_FFFF, 0xE8D4_A510][rng.below(3)];
                let bytes = if rng.below(2) == 0 {
                    huge.to_le_bytes()
                } else {
                    huge.to_be_bytes()
                };
                m[at..at + 4].copy_from_slice(&bytes);
            }
            _ => {
                m = (0..rng.below(2 * valid.len() + 1))
                    .map(|_| rng.next() as u8)
                    .collect();
            }
        }
        out.push(m);
    }
    out
}

/// What a parser did with every input: how many parsed and how many were refused.
#[derive(Debug, Default)]
pub struct Tally {
    pub parsed: usize,
    pub refused: usize,
}

/// Runs `parse` on every input; fails on a panic, a slow input, an allocation over the limit,
/// or an error that does not mention `source`.
pub fn try_all(
    what: &str,
    inputs: &[Vec<u8>],
    source: &str,
    parse: impl Fn(&[u8]) -> anyhow::Result<()>,
) -> Tally {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut tally = Tally::default();
    for (k, input) in inputs.iter().enumerate() {
        LARGEST.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| parse(input)));
        let took = start.elapsed();
        let largest = LARGEST.load(Ordering::Relaxed);
        let shown = || format!("{what} input {k} ({} bytes)", input.len());
        let Ok(result) = result else {
            panic!("{}: the parser panicked", shown());
        };
        assert!(took < TIME_LIMIT, "{}: took {took:?}", shown());
        assert!(
            largest <= ALLOCATION_LIMIT,
            "{}: asked for {largest} bytes at once",
            shown()
        );
        match result {
            Ok(()) => tally.parsed += 1,
            Err(e) => {
                let message = format!("{e:#}");
                assert!(
                    message.contains(source),
                    "{}: the error does not name {source}: {message}",
                    shown()
                );
                tally.refused += 1;
            }
        }
    }
    assert!(tally.refused > 0, "{what}: no input was refused: {tally:?}");
    eprintln!("{what}: {} inputs, {tally:?}", inputs.len());
    tally
}

/// Writes each input to a file and runs `parse` on the path.
pub fn try_all_files(
    what: &str,
    inputs: &[Vec<u8>],
    dir: &Path,
    name: &str,
    parse: impl Fn(&Path) -> anyhow::Result<()>,
) -> Tally {
    let path = dir.join(name);
    try_all(what, inputs, name, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        parse(&path)
    })
}
