//! usage: argon2-rate MEMORY_KIB ITERATIONS PARALLELISM SECONDS
//! Prints `verifies_per_sec=<f>`: how many argon2id computations at these parameters one thread
//! completes per second (a verify is one computation plus a constant-time compare).

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [memory_kib, iterations, parallelism, seconds] = args[..] else {
        return Err("usage: argon2-rate MEMORY_KIB ITERATIONS PARALLELISM SECONDS".into());
    };
    let params = Params::new(
        u32::try_from(memory_kib)?,
        u32::try_from(iterations)?,
        u32::try_from(parallelism)?,
        Some(32),
    )
    .map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [7u8; 16];
    let mut expected = [0u8; 32];
    argon2
        .hash_password_into(b"a long load-test passphrase", &salt, &mut expected)
        .map_err(|e| e.to_string())?;
    let budget = Duration::from_secs(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < budget {
        let mut out = [0u8; 32];
        argon2
            .hash_password_into(b"a long load-test passphrase", &salt, &mut out)
            .map_err(|e| e.to_string())?;
        if out != expected {
            return Err("argon2 output changed".into());
        }
        done += 1;
    }
    println!(
        "verifies_per_sec={:.1}",
        done as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
