//! Mutation fuzzing of the blueprint parser and emitter, run as an ordinary test:
//! seeded, so a failure reproduces. Valid blueprints are cut, spliced and sprinkled
//! with YAML's special characters; whatever comes out, parsing must return (never
//! panic), and whatever parses must survive an emit/parse round trip.

use super::{emit::to_yaml, parse};

/// The corpus the mutations start from.
const SEEDS: &[&str] = &[
    include_str!("../../blueprints/default/20-default-brand.yaml"),
    include_str!("../../blueprints/default/10-flow-default-authentication-flow.yaml"),
    include_str!("../../blueprints/examples/gitea.yaml"),
    include_str!("../../blueprints/examples/prometheus.yaml"),
    "version: 1\ncontext: {a: [1, 2.5, null]}\nentries:\n  - model: m.x\n    id: a\n    identifiers: {k: !KeyOf b}\n    attrs: {v: !If [!Condition [XOR, !Env [E, \"\"], true], \"x\", {y: [z]}]}\n    conditions: [!Context [c, yes]]\n  - model: m.y\n    id: b\n    state: absent\n    identifiers: {f: !Find [m.x, [k, \"%\"]], g: !Format [\"%s%%\", 1]}\n",
];

/// Characters that make YAML interesting.
const SPICE: &[&str] = &[
    ":",
    "- ",
    "!",
    "&a ",
    "*a",
    "|",
    ">",
    "#",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\n",
    "  ",
    "\t",
    "%",
    "@",
    "`",
    "? ",
    "---\n",
    "...\n",
    "\\",
    "é",
    "\u{0}",
    "\u{feff}",
    "!KeyOf",
    "!Find",
    "!!str ",
    "<<: ",
    "~",
    "0x1F",
    ".inf",
    "1e999",
    "-9223372036854775809",
];

/// xorshift64*: a deterministic sequence for choosing mutations (not for secrets).
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(seq: &mut Sequence, text: &str) -> String {
    let mut out = text.to_owned();
    for _ in 0..=seq.below(4) {
        let at = char_boundary(&out, seq.below(out.len() + 1));
        match seq.below(4) {
            0 => {
                let spice = SPICE[seq.below(SPICE.len())];
                out.insert_str(at, spice);
            }
            1 => {
                let end = char_boundary(&out, at + seq.below(12));
                out.replace_range(at..end, "");
            }
            2 => out.truncate(at),
            _ => {
                let other = SEEDS[seq.below(SEEDS.len())];
                let from = char_boundary(other, seq.below(other.len()));
                let to = char_boundary(other, from + seq.below(80));
                out.insert_str(at, &other[from..to]);
            }
        }
    }
    out
}

#[test]
fn mutated_blueprints_never_panic_and_what_parses_round_trips() {
    let mut seq = Sequence(0x5eed_b1e5_5eed_b1e5);
    let mut parsed = 0;
    for round in 0..4000 {
        let seed = SEEDS[round % SEEDS.len()];
        let text = mutate(&mut seq, seed);
        let Ok(Some(blueprint)) = parse("fuzz.yaml", &text) else {
            continue;
        };
        parsed += 1;
        let emitted = to_yaml(&blueprint);
        let again = match parse("emitted.yaml", &emitted) {
            Ok(Some(again)) => again,
            other => panic!(
                "round {round}: emitted text does not parse: {other:?}\ninput:\n{text}\nemitted:\n{emitted}"
            ),
        };
        assert_eq!(to_yaml(&again), emitted, "round {round}: input:\n{text}");
    }
    // The mutations must leave enough valid files for the round trip to be tested.
    assert!(parsed > 200, "only {parsed} mutants parsed");
}
