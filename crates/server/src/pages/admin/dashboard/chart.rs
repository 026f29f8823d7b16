//! The dashboard's sign-in chart, drawn on the server as inline SVG (no script, no image
//! request): for each period a pair of bars, sign-ins and failures, oldest on the left.
//!
//! Colour is never the only channel: the failure bar is hatched and outlined, every bar pair
//! carries a `<title>` with its period and both numbers (read by screen readers and shown as a
//! tooltip), non-zero bars are labelled with their number, and the page repeats the numbers in
//! a table.

use chrono::{DateTime, Duration, Utc};

/// The drawing's coordinate system (the SVG scales to its container through `viewBox`).
pub(crate) const WIDTH: i64 = 720;
pub(crate) const HEIGHT: i64 = 200;
/// Room above the tallest bar for its number.
const TOP: i64 = 22;
/// The baseline; the axis labels sit below it.
const BASELINE: i64 = 170;
/// The plot's left edge: room for the scale's label.
const LEFT: i64 = 36;

/// One period's pair of bars, with everything the template draws.
pub(crate) struct BarPair {
    /// "30 Nov 13:05–14:05 UTC: 3 sign-ins, 1 failure".
    pub title: String,
    pub sign_ins: i64,
    pub failures: i64,
    pub x_sign_ins: i64,
    pub x_failures: i64,
    pub bar_width: i64,
    pub y_sign_ins: i64,
    pub h_sign_ins: i64,
    pub y_failures: i64,
    pub h_failures: i64,
    /// The x of the bars' centres, for their numbers.
    pub x_sign_ins_label: i64,
    pub x_failures_label: i64,
    /// The axis label under this period (some periods have none, to leave room).
    pub axis_label: Option<String>,
    pub x_axis_label: i64,
    /// A row of the numbers' table: the period in words.
    pub period: String,
}

/// A chart ready to draw.
pub(crate) struct Chart {
    /// `24h` or `7d` (`data-range`).
    pub range: &'static str,
    /// The SVG's `<title>`: what it shows and the totals.
    pub title: String,
    pub description: String,
    pub bars: Vec<BarPair>,
    /// The largest value, labelled at the top of the scale.
    pub scale_max: i64,
    pub width: i64,
    pub height: i64,
    pub baseline: i64,
    pub top: i64,
    pub left: i64,
}

/// Which periods a series covers: `hours` long each, the latest ending at `now`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Periods {
    Hours,
    Days,
}

impl Periods {
    fn length(self) -> Duration {
        match self {
            Periods::Hours => Duration::hours(1),
            Periods::Days => Duration::days(1),
        }
    }

    fn range(self) -> &'static str {
        match self {
            Periods::Hours => "24h",
            Periods::Days => "7d",
        }
    }

    fn describe(self, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        match self {
            Periods::Hours => format!(
                "{}–{} UTC",
                start.format("%-d %b %H:%M"),
                end.format("%H:%M")
            ),
            Periods::Days => format!(
                "{} – {} UTC",
                start.format("%-d %b %H:%M"),
                end.format("%-d %b %H:%M")
            ),
        }
    }

    /// The axis label of the period `ago` periods before the latest, if it has one.
    fn axis_label(self, ago: usize) -> Option<String> {
        match self {
            Periods::Hours if ago == 0 => Some("now".to_owned()),
            Periods::Hours if ago.is_multiple_of(6) => Some(format!("−{ago} h")),
            Periods::Hours => None,
            Periods::Days if ago == 0 => Some("last 24 h".to_owned()),
            Periods::Days => Some(format!("−{ago} d")),
        }
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The chart of `sign_ins` and `failures` (the latest period first, as the application layer
/// gives them) over `periods` ending at `now`.
pub(crate) fn build(
    periods: Periods,
    sign_ins: &[i64],
    failures: &[i64],
    now: DateTime<Utc>,
) -> Chart {
    let count = sign_ins.len().max(failures.len()).max(1);
    let scale_max = sign_ins
        .iter()
        .chain(failures)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT) / i64::try_from(count).unwrap_or(1);
    // Two bars and a gap in each slot.
    let bar_width = ((slot - 4) / 2).max(1);
    let plot_height = BASELINE - TOP;
    let height_of = |value: i64| {
        if value <= 0 {
            0
        } else {
            // At least a pixel, so a single event is visible beside a large maximum.
            (value * plot_height / scale_max).max(1)
        }
    };
    let bars = (0..count)
        .map(|slot_index| {
            // Oldest on the left: slot 0 is the period `count - 1` periods ago.
            let ago = count - 1 - slot_index;
            let signed = sign_ins.get(ago).copied().unwrap_or(0);
            let failed = failures.get(ago).copied().unwrap_or(0);
            let ago_periods = i32::try_from(ago).unwrap_or(i32::MAX);
            let end = now - periods.length() * ago_periods;
            let start = end - periods.length();
            let period = periods.describe(start, end);
            let x = LEFT + i64::try_from(slot_index).unwrap_or(0) * slot + 2;
            let (h_sign_ins, h_failures) = (height_of(signed), height_of(failed));
            BarPair {
                title: format!(
                    "{period}: {}, {}",
                    plural(signed, "sign-in", "sign-ins"),
                    plural(failed, "failure", "failures")
                ),
                sign_ins: signed,
                failures: failed,
                x_sign_ins: x,
                x_failures: x + bar_width,
                bar_width,
                y_sign_ins: BASELINE - h_sign_ins,
                h_sign_ins,
                y_failures: BASELINE - h_failures,
                h_failures,
                x_sign_ins_label: x + bar_width / 2,
                x_failures_label: x + bar_width + bar_width / 2,
                axis_label: periods.axis_label(ago),
                x_axis_label: x + bar_width,
                period,
            }
        })
        .collect();
    let (total_sign_ins, total_failures): (i64, i64) =
        (sign_ins.iter().sum(), failures.iter().sum());
    let span = match periods {
        Periods::Hours => "the last 24 hours, hour by hour",
        Periods::Days => "the last 7 days, day by day",
    };
    Chart {
        range: periods.range(),
        title: format!(
            "Sign-ins and failures over {span}: {} and {} in all",
            plural(total_sign_ins, "sign-in", "sign-ins"),
            plural(total_failures, "failure", "failures")
        ),
        description: "Solid bars are sign-ins, hatched bars failures; each pair is one period, \
                      the latest on the right."
            .to_owned(),
        bars,
        scale_max,
        width: WIDTH,
        height: HEIGHT,
        baseline: BASELINE,
        top: TOP,
        left: LEFT,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn bars_run_oldest_to_newest_and_scale_to_the_largest_value() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 14, 30, 0).unwrap();
        let sign_ins = [4, 0, 2];
        let failures = [1, 0, 0];
        let chart = build(Periods::Hours, &sign_ins, &failures, now);
        assert_eq!(chart.bars.len(), 3);
        // The latest period is on the right.
        let latest = chart.bars.last().unwrap();
        assert_eq!((latest.sign_ins, latest.failures), (4, 1));
        assert_eq!(
            latest.h_sign_ins,
            BASELINE - TOP,
            "the largest value fills the plot"
        );
        assert_eq!(
            latest.title,
            "30 Nov 13:30–14:30 UTC: 4 sign-ins, 1 failure"
        );
        assert_eq!(latest.axis_label.as_deref(), Some("now"));
        let oldest = &chart.bars[0];
        assert_eq!(oldest.sign_ins, 2);
        assert_eq!(oldest.h_sign_ins, (BASELINE - TOP) / 2);
        assert_eq!(chart.bars[1].h_sign_ins, 0, "no bar for nothing");
        assert!(
            chart
                .bars
                .windows(2)
                .all(|w| w[0].x_sign_ins < w[1].x_sign_ins)
        );
        assert!(
            chart
                .bars
                .iter()
                .all(|b| b.x_failures + b.bar_width <= WIDTH)
        );
        assert!(
            chart.title.contains("6 sign-ins and 1 failure"),
            "{}",
            chart.title
        );
    }

    #[test]
    fn a_single_event_beside_a_large_maximum_still_shows() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        let chart = build(Periods::Days, &[10_000, 1], &[0, 0], now);
        assert_eq!(chart.bars[0].h_sign_ins, 1);
        assert_eq!(chart.bars[0].axis_label.as_deref(), Some("−1 d"));
        assert_eq!(chart.range, "7d");
    }

    #[test]
    fn an_empty_series_draws_an_empty_chart() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        let chart = build(Periods::Hours, &[0; 24], &[0; 24], now);
        assert_eq!(chart.bars.len(), 24);
        assert!(
            chart
                .bars
                .iter()
                .all(|b| b.h_sign_ins == 0 && b.h_failures == 0)
        );
        assert_eq!(chart.scale_max, 1);
    }
}
