//! Mint, render and verify costs.

use std::hint::black_box;

use baton_handle::{Codec, Id, Key, KeyRing};
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: u64 = 1_700_000_000;
const PRINCIPAL: &str = "user:7f3c2a90-1b4d-4e8f-9a21-0c5d6e7f8a9b";

fn codec() -> Codec {
    let ring = KeyRing::new([Key::generate(1), Key::generate(2)]).expect("two distinct key ids");
    Codec::new("task", ring).expect("valid kind")
}

fn bench(c: &mut Criterion) {
    let codec = codec();
    let handle = codec.mint(PRINCIPAL, NOW + 3600).handle;
    let id = Id::from_bytes([7; 16]);

    c.bench_function("mint", |b| {
        b.iter(|| codec.mint(black_box(PRINCIPAL), black_box(NOW + 3600)))
    });
    c.bench_function("render", |b| {
        b.iter(|| codec.render(black_box(&id), black_box(PRINCIPAL), black_box(NOW + 3600)))
    });
    c.bench_function("verify/ok", |b| {
        b.iter(|| codec.verify(black_box(&handle), black_box(PRINCIPAL), black_box(NOW)))
    });
    c.bench_function("verify/other_principal", |b| {
        b.iter(|| codec.verify(black_box(&handle), black_box("mallory"), black_box(NOW)))
    });
    let garbage = "x".repeat(100);
    c.bench_function("verify/garbage", |b| {
        b.iter(|| codec.verify(black_box(&garbage), black_box(PRINCIPAL), black_box(NOW)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
