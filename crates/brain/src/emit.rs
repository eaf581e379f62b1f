//! "Emit a new signal?": whether a freshly composed signal says something the last stored
//! signal of its symbol did not. Brain writes a row only when it does, so a quiet market writes
//! nothing and a news value that merely decays with time does not write a row every cycle.
//!
//! Pure: the glue passes the last stored signal (if any) and the new one. It must not read the
//! store or the clock.

use crate::compose::{inputs_changed, ComponentContribution, CompositeSignal};
use crate::kind::Kind;

/// True when `current` should be written: there is no last signal, or its inputs changed (a
/// new bar, article or filing, a component appearing or vanishing) and the change is more than
/// value drift below `min_value_change`. Equal ids mean equal inputs (the id is a hash of
/// them), which is immune to the last ULP a float may lose in the stored JSON; a signal
/// composed without an id (`compose_unidentified`, an in-memory replay where no float went
/// through JSON) is compared by its inputs alone.
pub fn should_emit(
    last: Option<&CompositeSignal>,
    current: &CompositeSignal,
    min_value_change: f64,
) -> bool {
    match last {
        None => true,
        Some(l) => {
            (l.id.is_empty() || current.id.is_empty() || l.id != current.id)
                && inputs_changed(Some(&l.components), &current.components)
                && !drift_only(&l.components, &current.components, min_value_change)
        }
    }
}

/// True when `current` rests on the same inputs as `last` (the same kinds, each with the same
/// `as_of`) and every value moved by less than `tolerance`. A component whose value decays with
/// time alone (news sentiment weighted by age) changes a little every cycle without any new
/// article; that drift is not a new input and must not write a signal row every cycle.
pub fn drift_only(
    last: &[ComponentContribution],
    current: &[ComponentContribution],
    tolerance: f64,
) -> bool {
    fn present(
        v: &[ComponentContribution],
    ) -> impl Iterator<Item = (Kind, Option<i64>, f64)> + Clone + '_ {
        v.iter()
            .filter(|c| c.present)
            .map(|c| (c.kind, c.as_of, c.value))
    }
    let (a, b) = (present(last), present(current));
    a.clone().count() == b.clone().count()
        && a.zip(b)
            .all(|(x, y)| x.0 == y.0 && x.1 == y.1 && (x.2 - y.2).abs() < tolerance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{compose, BrainConfig, ComponentInput};

    fn signal(inputs: &[(Kind, f64, i64)]) -> CompositeSignal {
        let inputs: Vec<ComponentInput> = inputs
            .iter()
            .map(|(kind, value, as_of)| ComponentInput {
                kind: *kind,
                value: *value,
                as_of: *as_of,
            })
            .collect();
        compose("AAPL", &inputs, &BrainConfig::default(), 1000)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn should_emit_table() {
        let base = signal(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.30, 800)]);
        let table = [
            ("first signal", None, base.clone(), true),
            ("same inputs", Some(&base), base.clone(), false),
            (
                "decay only",
                Some(&base),
                signal(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.305, 800)]),
                false,
            ),
            (
                "new bar",
                Some(&base),
                signal(&[(Kind::Chart, 0.5, 901), (Kind::News, 0.30, 800)]),
                true,
            ),
            (
                "value moved",
                Some(&base),
                signal(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.32, 800)]),
                true,
            ),
        ];
        for (name, last, current, want) in table {
            assert_eq!(should_emit(last, &current, 0.01), want, "{name}");
        }
    }

    #[test]
    fn without_ids_the_inputs_decide() {
        let strip = |mut s: CompositeSignal| {
            s.id.clear();
            s
        };
        let base = signal(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.30, 800)]);
        let table = [
            ("same inputs", base.clone(), false),
            (
                "decay only",
                signal(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.305, 800)]),
                false,
            ),
            (
                "new bar",
                signal(&[(Kind::Chart, 0.5, 901), (Kind::News, 0.30, 800)]),
                true,
            ),
        ];
        for (name, current, want) in table {
            let with_ids = should_emit(Some(&base), &current, 0.01);
            let without = should_emit(Some(&strip(base.clone())), &strip(current), 0.01);
            assert_eq!((with_ids, without), (want, want), "{name}");
        }
    }

    #[test]
    fn drift_only_table() {
        let sig = |inputs: &[(Kind, f64, i64)]| signal(inputs).components;
        let base = sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.30, 800)]);
        let table = [
            (
                "same",
                sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.30, 800)]),
                true,
            ),
            (
                "news decayed a little",
                sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.305, 800)]),
                true,
            ),
            (
                "news moved a lot",
                sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.32, 800)]),
                false,
            ),
            (
                "new article",
                sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.30, 801)]),
                false,
            ),
            (
                "metrics appeared",
                sig(&[
                    (Kind::Chart, 0.5, 900),
                    (Kind::News, 0.30, 800),
                    (Kind::Metrics, 0.1, 5),
                ]),
                false,
            ),
            ("news vanished", sig(&[(Kind::Chart, 0.5, 900)]), false),
        ];
        for (name, current, want) in table {
            assert_eq!(drift_only(&base, &current, 0.01), want, "{name}");
        }
        assert!(!drift_only(
            &base,
            &sig(&[(Kind::Chart, 0.5, 900), (Kind::News, 0.305, 800)]),
            0.0
        ));
    }
}
