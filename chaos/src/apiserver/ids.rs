//! Identifiers the simulated API server hands out, deterministic for a seed:
//! UIDs, generated-name suffixes in the alphabet Kubernetes uses, pod IPs, and
//! the `pod-template-hash` of a pod template.

/// The alphabet of generated name suffixes (`k8s.io/apimachinery/pkg/util/rand`):
/// no vowels, no confusable characters.
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A seeded source of identifiers (splitmix64: small, fast, reproducible).
#[derive(Debug, Clone)]
pub struct IdSource {
    state: u64,
}

impl IdSource {
    /// A source whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x5eed_ed9e_4ea1_0000,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A UID in the RFC 4122 version-4 layout.
    pub fn uid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` characters of [`NAME_ALPHABET`] (pods get 5).
    pub fn suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = (self.next_u64() % NAME_ALPHABET.len() as u64) as usize;
                char::from(NAME_ALPHABET.get(i).copied().unwrap_or(b'x'))
            })
            .collect()
    }

    /// `n` lower-case hex digits (container ids).
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A pod IP in the `10.244.0.0/16` pod network.
    pub fn pod_ip(&mut self) -> String {
        let v = self.next_u64();
        format!("10.244.{}.{}", (v >> 8) % 250, 2 + v % 250)
    }
}

/// The `pod-template-hash` of a pod template (its canonical JSON) and the
/// Deployment's `collisionCount`: FNV-1a 32, printed in decimal and mapped
/// onto [`NAME_ALPHABET`] byte by byte, as `controller.ComputeHash` and
/// `rand.SafeEncodeString` do.
pub fn template_hash(template_json: &str, collision_count: i32) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |b: u8| {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    };
    template_json.bytes().for_each(&mut feed);
    if collision_count != 0 {
        collision_count
            .to_le_bytes()
            .into_iter()
            .for_each(&mut feed);
    }
    h.to_string()
        .bytes()
        .map(|b| {
            char::from(
                NAME_ALPHABET
                    .get(usize::from(b) % NAME_ALPHABET.len())
                    .copied()
                    .unwrap_or(b'x'),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_alphabet(s: &str) -> bool {
        s.bytes().all(|b| NAME_ALPHABET.contains(&b))
    }

    #[test]
    fn shapes_and_determinism() {
        let mut a = IdSource::new(7);
        let mut b = IdSource::new(7);
        let mut c = IdSource::new(8);
        let (ua, ub, uc) = (a.uid(), b.uid(), c.uid());
        let sfx = a.suffix(5);
        let cases: &[(&str, bool)] = &[
            ("same seed same uid", ua == ub),
            ("other seed other uid", ua != uc),
            ("uid length", ua.len() == 36),
            ("uid version 4", ua.as_bytes().get(14) == Some(&b'4')),
            ("suffix length", sfx.len() == 5),
            ("suffix alphabet", in_alphabet(&sfx)),
            ("hash alphabet", in_alphabet(&template_hash("{}", 0))),
            (
                "hash stable",
                template_hash("{\"a\":1}", 0) == template_hash("{\"a\":1}", 0),
            ),
            (
                "hash depends on template",
                template_hash("{\"a\":1}", 0) != template_hash("{\"a\":2}", 0),
            ),
            (
                "hash depends on collisions",
                template_hash("{}", 0) != template_hash("{}", 1),
            ),
            ("hex length", a.hex(64).len() == 64),
        ];
        for (name, ok) in cases {
            assert!(ok, "{name}");
        }
    }
}
