//! msgpack bodies (Fluent Bit's `format msgpack`): a stream of entries, each a record (a map),
//! an event `[[time, metadata], record]` (Fluent Bit ≥ 2.1) or `[time, record]`, or an array of
//! records, handed to the [`RecordSink`] one record at a time.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{records_of_seq, DecodeError, RecordSink};
use crate::bounded_value::{BoundedValue, ValueBudget};

/// msgpack nesting allowed, as serde_json allows JSON's.
const MSGPACK_MAX_DEPTH: usize = 128;

pub(super) fn records(body: &[u8], sink: &mut RecordSink<'_>) -> Result<(), DecodeError> {
    let mut de = rmp_serde::Deserializer::new(body);
    de.set_max_depth(MSGPACK_MAX_DEPTH);
    let mut pos = 0usize;
    while !de.get_ref().is_empty() {
        pos += 1;
        MsgpackEntry { sink: &mut *sink }
            .deserialize(&mut de)
            .map_err(|_| {
                sink.error.take().unwrap_or_else(|| {
                    DecodeError::Malformed(format!(
                        "msgpack entry {pos} is not a record, [time, record], [[time, meta], record] or an array of records"
                    ))
                })
            })?;
    }
    Ok(())
}

/// One msgpack entry as the senders produce it: a record (a map); Fluent Bit's
/// `[[time, metadata], record]` (≥ 2.1) or `[time, record]`, whose header (an EventTime
/// extension, an integer, an array) is skipped — the record carries `edgeheal.ts`; or an
/// array of records.
struct MsgpackEntry<'s, 'c> {
    sink: &'s mut RecordSink<'c>,
}

impl<'de> DeserializeSeed<'de> for MsgpackEntry<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MsgpackEntry<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record, [time, record], [[time, meta], record] or an array of records")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.sink.full() {
            return Err(self.sink.too_many());
        }
        self.sink
            .next(|budget| BoundedValue { budget }.visit_map(map).map(Some))?;
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let sink = self.sink;
        if sink.full() {
            return match seq.next_element::<IgnoredAny>()? {
                Some(_) => Err(sink.too_many()),
                None => Ok(()),
            };
        }
        // The first element tells an event (a header, never a map) from an array of records.
        let mut header = false;
        let first = sink.next(|budget| {
            seq.next_element_seed(FirstElement {
                budget,
                header: &mut header,
            })
            .map(Option::flatten)
        })?;
        if first {
            return records_of_seq(sink, seq);
        }
        if !header {
            return Ok(()); // `[]`: no records.
        }
        if !sink.next(|budget| seq.next_element_seed(BoundedValue { budget }))? {
            return Err(de::Error::invalid_length(1, &"[time, record]"));
        }
        match seq.next_element::<IgnoredAny>()? {
            Some(_) => Err(de::Error::invalid_length(3, &"[time, record]")),
            None => Ok(()),
        }
    }
}

/// The first element of a msgpack array: a record (a map, built) or an event's header
/// (anything else, skipped without being built; `header` is set).
struct FirstElement<'b, 'h> {
    budget: &'b ValueBudget,
    header: &'h mut bool,
}

impl<'de> DeserializeSeed<'de> for FirstElement<'_, '_> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstElement<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record or an event header")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        BoundedValue {
            budget: self.budget,
        }
        .visit_map(map)
        .map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        *self.header = true;
        IgnoredAny.visit_seq(seq).map(|_| None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        *self.header = true;
        Ok(None)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // Fluent Bit's EventTime: msgpack extension 0, which rmp-serde presents as a newtype.
        *self.header = true;
        IgnoredAny::deserialize(deserializer).map(|_| None)
    }
}
