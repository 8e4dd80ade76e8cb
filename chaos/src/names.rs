//! Kubernetes-shaped names and ids: pod-template hashes and pod suffixes in the
//! alphabet Kubernetes uses (`k8s.io/apimachinery/pkg/util/rand.SafeEncodeString`),
//! UIDs, container ids, event names and pod IPs.

use crate::random::{chars_from, next_u64, SimRng};

/// The alphabet of generated name suffixes (no vowels, no confusable characters).
pub const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A ReplicaSet `pod-template-hash` (Kubernetes emits 8–10 characters).
pub fn template_hash(rng: &mut SimRng) -> String {
    let len = 9 + (next_u64(rng) % 2) as usize;
    chars_from(rng, K8S_ALPHABET, len)
}

/// The 5-character suffix of a generated pod name.
pub fn pod_suffix(rng: &mut SimRng) -> String {
    chars_from(rng, K8S_ALPHABET, 5)
}

/// A UID in the RFC 4122 version-4 layout Kubernetes uses.
pub fn uid(rng: &mut SimRng) -> String {
    let a = next_u64(rng);
    let b = next_u64(rng);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// A 64-hex-digit container id.
pub fn container_id(rng: &mut SimRng) -> String {
    (0..4).map(|_| format!("{:016x}", next_u64(rng))).collect()
}

/// `n` lower-case hex digits.
pub fn hex(rng: &mut SimRng, n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(&format!("{:016x}", next_u64(rng)));
    }
    s.truncate(n);
    s
}

/// An Event object name: `<involved object>.<16 hex digits>` (the kubelet's
/// recorder uses the creation time in hex).
pub fn event_name(object: &str, ts_ns: i64) -> String {
    format!("{object}.{:016x}", ts_ns.max(0))
}

/// A pod IP in the `10.<node>.x.y` pod CIDR of node number `node`.
pub fn pod_ip(rng: &mut SimRng, node: usize) -> String {
    let v = next_u64(rng);
    format!("10.{}.{}.{}", 40 + node % 200, (v >> 8) % 250, 2 + v % 250)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::rng_for;

    fn in_alphabet(s: &str) -> bool {
        s.bytes().all(|b| K8S_ALPHABET.contains(&b))
    }

    #[test]
    fn shapes() {
        let mut rng = rng_for(3, 0);
        let th = template_hash(&mut rng);
        let sfx = pod_suffix(&mut rng);
        let u = uid(&mut rng);
        let cid = container_id(&mut rng);
        let cases: &[(&str, bool)] = &[
            ("template hash length", (9..=10).contains(&th.len())),
            ("template hash alphabet", in_alphabet(&th)),
            ("suffix length", sfx.len() == 5),
            ("suffix alphabet", in_alphabet(&sfx)),
            ("uid length", u.len() == 36),
            ("uid version", u.as_bytes().get(14) == Some(&b'4')),
            ("container id", cid.len() == 64),
            ("event name", event_name("p", 255) == "p.00000000000000ff"),
        ];
        for (what, ok) in cases {
            assert!(ok, "{what}: {th} {sfx} {u} {cid}");
        }
    }
}
