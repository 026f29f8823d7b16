//! The application layer's metrics (names and labels listed in `docs/metrics.md`). Labels come
//! from closed sets of `&'static str`, so a series never carries user input.

/// `gatehouse_sign_ins_total{method, result}`: `method` is the step (`password`,
/// `second_factor`), `result` what it led to (`success`, `failure`, `second_factor_required`).
pub(crate) fn sign_in(method: &'static str, result: &'static str) {
    metrics::counter!("gatehouse_sign_ins_total", "method" => method, "result" => result)
        .increment(1);
}
