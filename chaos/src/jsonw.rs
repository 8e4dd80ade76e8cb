//! A small streaming JSON object writer. Records are written field by field in
//! the order the real tools emit them (serde_json's map would sort the keys),
//! straight into a reused `String`, without building a tree.

use std::fmt::Write as _;

/// Writes one JSON object (possibly nested) into a borrowed `String`.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    first: Vec<bool>,
}

impl<'a> ObjectWriter<'a> {
    /// Starts an object at the end of `out`.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter {
            out,
            first: vec![true],
        }
    }

    fn key(&mut self, key: &str) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(',');
            }
            *first = false;
        }
        push_json_str(self.out, key);
        self.out.push(':');
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_json_str(self.out, value);
        self
    }

    /// A string field, or `null`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// An integer field.
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// A float field with `decimals` fraction digits (finite values only; others become 0).
    pub fn float(&mut self, key: &str, value: f64, decimals: usize) -> &mut Self {
        self.key(key);
        let v = if value.is_finite() { value } else { 0.0 };
        let _ = write!(self.out, "{v:.decimals$}");
        self
    }

    /// A float field in its shortest round-trip form, always with a fraction or exponent
    /// so that readers see a float (`2.0`, not `2`).
    pub fn float_exact(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        let v = if value.is_finite() { value } else { 0.0 };
        let _ = write!(self.out, "{v:?}");
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// A field whose value is already JSON text.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// A field whose value is a JSON array of strings.
    pub fn str_array(&mut self, key: &str, values: &[&str]) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_json_str(self.out, v);
        }
        self.out.push(']');
        self
    }

    /// Opens a nested object under `key`; close it with [`ObjectWriter::end`].
    pub fn open(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push('{');
        self.first.push(true);
        self
    }

    /// Closes the innermost open object.
    pub fn end(&mut self) -> &mut Self {
        if self.first.len() > 1 {
            self.first.pop();
            self.out.push('}');
        }
        self
    }

    /// Closes every open object, including the outermost.
    pub fn finish(mut self) {
        while self.first.len() > 1 {
            self.end();
        }
        self.out.push('}');
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_in_field_order() {
        let mut s = String::new();
        let mut w = ObjectWriter::new(&mut s);
        w.str("log", "say \"hi\"\n\t\u{1}")
            .int("n", -3)
            .float("f", 0.25, 3)
            .float_exact("g", 2.0)
            .bool("b", true)
            .opt_str("none", None)
            .open("k")
            .str("a", "x")
            .open("inner")
            .end()
            .end()
            .str_array("ips", &["10.0.0.1", "::1"]);
        w.finish();
        let cases: &[(&str, serde_json::Value)] = &[
            ("/log", serde_json::json!("say \"hi\"\n\t\u{1}")),
            ("/n", serde_json::json!(-3)),
            ("/f", serde_json::json!(0.25)),
            ("/g", serde_json::json!(2.0)),
            ("/b", serde_json::json!(true)),
            ("/none", serde_json::Value::Null),
            ("/k/a", serde_json::json!("x")),
            ("/k/inner", serde_json::json!({})),
            ("/ips/1", serde_json::json!("::1")),
        ];
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        for (ptr, want) in cases {
            assert_eq!(v.pointer(ptr), Some(want), "{ptr} in {s}");
        }
        assert!(s.starts_with("{\"log\":"), "field order kept: {s}");
    }
}
