//! A `serde_json::Value` built from any self-describing format (JSON, msgpack) under a count
//! of the values it may hold. A byte of msgpack (`0x00`, `0x90`) or two of JSON (`0,`) become a
//! 32-byte `Value` and more in a map, so one record of a body under the size limits could
//! otherwise take hundreds of MiB while it is built. Strings cost their own bytes, which the
//! body's size bounds; the count bounds everything else.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How many more values one record may hold; set when a record asked for more.
#[derive(Debug)]
pub struct ValueBudget {
    left: Cell<usize>,
    exceeded: Cell<bool>,
}

impl ValueBudget {
    /// A budget of `max` values (objects, arrays, strings, numbers, booleans, nulls).
    pub fn new(max: usize) -> Self {
        Self {
            left: Cell::new(max),
            exceeded: Cell::new(false),
        }
    }

    /// Whether a value was refused for want of budget (the error that followed is this).
    pub fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    fn take<E: de::Error>(&self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(E::custom("the record holds too many values"))
            }
        }
    }
}

/// Deserializes one value, counting each nested value against its [`ValueBudget`]. What it
/// accepts is what `serde_json::Value` accepts (no byte strings, no extension types).
#[derive(Debug, Clone, Copy)]
pub struct BoundedValue<'b> {
    /// The budget of the record being built.
    pub budget: &'b ValueBudget,
}

impl<'de> DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BoundedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.take()?;
        // As serde_json's own `Value` does: a non-finite float is null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.take()?;
        // No capacity from the size hint: a msgpack array header may claim 2^32 elements.
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.take()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str, max: usize) -> Result<Value, bool> {
        let budget = ValueBudget::new(max);
        let mut de = serde_json::Deserializer::from_str(text);
        BoundedValue { budget: &budget }
            .deserialize(&mut de)
            .map_err(|_| budget.exceeded())
    }

    #[test]
    fn builds_what_serde_json_builds_and_counts_every_value() {
        let cases: &[(&str, usize)] = &[
            ("null", 1),
            ("true", 1),
            ("-3", 1),
            ("18446744073709551615", 1),
            ("0.5", 1),
            ("\"x\"", 1),
            ("[]", 1),
            ("{}", 1),
            ("[0, [1, 2], {\"a\": null}]", 7),
            ("{\"a\": {\"b\": [true, \"s\"]}, \"c\": 1.5e3}", 6),
        ];
        for (text, values) in cases {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text, *values), Ok(want), "{text}");
            assert_eq!(
                parse(text, values - 1),
                Err(true),
                "{text}: one value short"
            );
        }
        // A syntax error is not a budget error.
        assert_eq!(parse("[0,", 100), Err(false));
        assert_eq!(parse("{\"a\": 1}", 2), Ok(json!({"a": 1})));
    }

    #[test]
    fn msgpack_values_are_counted_too() {
        // A map of one key whose value is an array of 1000 nils: 1002 values.
        let mut body = vec![0x81, 0xa1, b'x', 0xdc, 0x03, 0xe8];
        body.extend(std::iter::repeat_n(0xc0, 1000));
        let decode = |max| {
            let budget = ValueBudget::new(max);
            let mut de = rmp_serde::Deserializer::new(&body[..]);
            BoundedValue { budget: &budget }
                .deserialize(&mut de)
                .map_err(|_| budget.exceeded())
        };
        let v = decode(1002).unwrap();
        assert_eq!(v["x"].as_array().map(Vec::len), Some(1000));
        assert_eq!(decode(1001), Err(true));
    }
}
