//! Scaling checks for parsers fed hostile input, shared by the `hostile` tests of aivex-news
//! and aivex-market (each includes this file with `#[path]`).
//!
//! `check` feeds one input shape at 1, 2, 4 and 8 MiB and asserts that (a) the median time
//! grows no worse than `MAX_STEP` per doubling (only ratios measured side by side in one run
//! are compared, never absolute times, so a slow or loaded box and a debug build are fine; a
//! quadratic parser shows ~4x per doubling) and (b) the parse's peak heap, result included,
//! stays within `max_factor` times the input size plus `SLACK`, measured by a per-thread
//! counting allocator. The checks run one at a time so they do not time each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The global allocator of a test binary that uses `check`.
pub struct Counting;

thread_local! {
    static CURRENT: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = CURRENT.try_with(|c| {
        let v = c.get() + n as i64;
        c.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get() - n as i64));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as if the old and new blocks coexisted, as they may while copying.
            add(new_size);
            sub(layout.size());
        }
        p
    }
}

/// Bytes allocated on this thread by `f` at its peak, above the level when it started; the
/// result is dropped after the measurement, so it counts.
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> usize {
    let start = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    drop(out);
    usize::try_from(peak - start).unwrap_or(0)
}

const MIB: usize = 1 << 20;
const SIZES: [usize; 4] = [MIB, 2 * MIB, 4 * MIB, 8 * MIB];
/// Largest accepted growth of the median time per doubling of the input.
const MAX_STEP: f64 = 3.0;
/// Samples per size (taken in rounds over all sizes); the median is compared.
const ROUNDS: usize = 3;
/// Shortest 1 MiB sample: quicker parses are repeated (page faults and timer noise dominate
/// single runs of a millisecond).
const MIN_SAMPLE: Duration = Duration::from_millis(15);
/// Whole measurements tried before a shape fails (a burst of load can skew one).
const ATTEMPTS: usize = 5;
/// Heap allowed beyond `max_factor` × input (buffers that do not grow with the input).
const SLACK: usize = MIB;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds an input of about `n` bytes by repeating `unit` between `head` and `tail`.
pub fn repeat(head: &str, unit: &str, tail: &str, n: usize) -> Vec<u8> {
    let count = n.saturating_sub(head.len() + tail.len()) / unit.len().max(1);
    // `str::repeat` is std's (optimised) code: a loop here would run unoptimised.
    [head, &unit.repeat(count), tail].concat().into_bytes()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Wall time of `reps` parses of `input`.
fn sample<T>(parse: &impl Fn(&[u8]) -> T, input: &[u8], reps: u32) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(parse(std::hint::black_box(input)));
    }
    t.elapsed()
}

/// One shape: `make(n)` builds about `n` bytes, `parse` reads them and returns what it kept.
/// A first parse of each size checks the peak heap (and warms up); fast shapes are then
/// repeated so the 1 MiB sample lasts at least `MIN_SAMPLE`. One sample per size is compared
/// with the next size's; when a step looks too steep, the sizes are timed again and each
/// size's median of `ROUNDS` samples compared.
pub fn check<T>(
    name: &str,
    max_factor: usize,
    make: impl Fn(usize) -> Vec<u8>,
    parse: impl Fn(&[u8]) -> T,
) {
    let _guard = serial();
    let inputs: Vec<Vec<u8>> = SIZES.iter().map(|&n| make(n)).collect();
    let mut factor = 0.0;
    for input in &inputs {
        let peak = peak_heap(|| parse(input));
        let allowed = max_factor * input.len() + SLACK;
        assert!(
            peak <= allowed,
            "{name}: {} bytes of input took {peak} bytes of heap (allowed {max_factor}x + 1 MiB)",
            input.len()
        );
        factor = peak as f64 / input.len() as f64;
    }
    // Warm repetitions (the first parse of a size also pays for fresh pages).
    let mut reps = 1;
    let warm = |reps| (0..3).map(|_| sample(&parse, &inputs[0], reps)).min();
    while reps < 1024 && warm(reps).is_some_and(|t| t < MIN_SAMPLE) {
        reps *= 2;
    }
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        // Rounds over all sizes, so a burst of load on the box hits every size alike.
        // One round first; a steep step is measured again as the median of `ROUNDS`.
        let rounds = if attempt == 1 { 1 } else { ROUNDS };
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); inputs.len()];
        for _ in 0..rounds {
            for (input, s) in inputs.iter().zip(&mut samples) {
                s.push(sample(&parse, input, reps));
            }
        }
        let times: Vec<Duration> = samples.into_iter().map(median).collect();
        let steps: Vec<f64> = times
            .windows(2)
            .map(|w| w[1].as_secs_f64() / w[0].as_secs_f64().max(1e-9))
            .collect();
        last = format!(
            "{name}: {reps} run(s) per sample, medians {:?} ms, growth per doubling {:.2?}, \
             peak heap {factor:.1}x input",
            times.iter().map(|t| t.as_millis()).collect::<Vec<_>>(),
            steps
        );
        println!("{last} (attempt {attempt})");
        if steps.iter().all(|&s| s <= MAX_STEP) {
            return;
        }
    }
    panic!("{last}: not linear (more than {MAX_STEP}x per doubling)");
}
