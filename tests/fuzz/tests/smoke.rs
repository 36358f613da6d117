//! The smoke run of every fuzz target (in the test command, stable toolchain): each seed of
//! `corpus/<target>/`, then seeded mutations of the seeds (bit flips, byte changes, cuts,
//! splices, repeats) for a bounded time. A panic fails the test with the input that caused it,
//! written to `target/fuzz-smoke/<target>-crash` to become a corpus entry and a regression test.
//! Coverage-guided long runs are `libfuzzer/` (see `docs/reliability.md`).

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long each target is mutated after its seeds (`COWORKER_FUZZ_SMOKE_SECS`).
fn budget() -> Duration {
    let secs = std::env::var("COWORKER_FUZZ_SMOKE_SECS").ok().and_then(|s| s.parse().ok());
    Duration::from_secs_f64(secs.unwrap_or(3.0))
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0, 0xff, b'"', b'{', b'}', b'[', b'\\', 0x80][rng.below(8)];
            }
            2 => data.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let byte = (rng.next() & 0xff) as u8;
                data.splice(i..i, std::iter::repeat_n(byte, 1 + rng.below(16)));
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let (cut, from) = (rng.below(len + 1), rng.below(other.len() + 1));
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            5 if len > 0 => {
                let (start, end) = {
                    let a = rng.below(len);
                    (a, a + 1 + rng.below(len - a))
                };
                let chunk = data[start..end].to_vec();
                for _ in 0..=rng.below(8) {
                    data.splice(end..end, chunk.iter().copied());
                }
            }
            _ => data.push((rng.next() & 0xff) as u8),
        }
    }
    data
}

fn crash_file(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-smoke");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{target}-crash"))
}

fn run_one(target: &str, run: fn(&[u8]), data: &[u8]) {
    if std::panic::catch_unwind(|| run(data)).is_err() {
        let file = crash_file(target);
        std::fs::write(&file, data).unwrap();
        panic!("{target} panicked on {} bytes, saved in {}", data.len(), file.display());
    }
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    for (target, run) in coworker_fuzz::TARGETS {
        let seeds = seeds(target);
        for seed in &seeds {
            run_one(target, run, seed);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
        let started = Instant::now();
        let mut runs = 0u64;
        while started.elapsed() < budget() {
            let data = mutate(&mut rng, &seeds);
            run_one(target, run, &data);
            runs += 1;
        }
        println!("{target}: {} seeds, {runs} mutations", seeds.len());
    }
}

/// Writes the `mls` target's seeds from real traffic (run by hand when the client's messages
/// change): `cargo test -p coworker-fuzz --test smoke -- --ignored write_mls_seeds`.
#[test]
#[ignore = "writes corpus/mls"]
fn write_mls_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join("mls");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in coworker_fuzz::mls_seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
    }
}
