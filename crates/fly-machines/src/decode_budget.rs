//! A ceiling on what an answer decodes into, so memory is bounded by bytes, not by objects.
//!
//! [`crate::body_limit`] bounds the bytes of a body, but not what they become: each 11-byte
//! `{"id":"m"}` in a list decodes into a whole `Machine` (kilobytes, most of it `None`s), so a
//! 1 MB list could take hundreds of MB, and a 31 MB one tens of GB. Before the generated client
//! decodes a large answer, [`check`] decodes it once through a meter that charges every list
//! element and map entry the size of the value it becomes, and gives up as soon as the total
//! passes the budget. Within budget, the check's value is dropped and the generated client
//! decodes as usual; peak memory stays a small multiple of the budget, whatever the body holds.
//!
//! The meter charges at the point where serde asks for the next element, with the element's
//! type known there, so nested lists (a machine's services, its events) are charged by their own
//! types too. A struct's fields are not charged (they live inside the struct, which was charged
//! as a whole where it is an element), but the lists and maps they hold are.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Checks that `body`, decoded as `T`, stays within `budget` bytes of list elements and map
/// entries. `Err` carries how much had been charged when the check gave up.
pub(crate) type DecodeCheck = fn(&[u8], u64) -> Result<(), u64>;

/// Bodies at most this many times smaller than the budget are not checked: no JSON can grow more
/// than this (a two-byte `{}` element becoming a type of a few kilobytes is the worst case
/// among the API's types), so their decode fits whatever they hold.
pub(crate) const WORST_GROWTH: u64 = 4096;

/// [`DecodeCheck`] for `T`.
pub(crate) fn check<T: de::DeserializeOwned>(body: &[u8], budget: u64) -> Result<(), u64> {
    let meter = Meter {
        used: Cell::new(0),
        budget,
        over: Cell::new(false),
    };
    let mut json = serde_json::Deserializer::from_slice(body);
    let decoded = T::deserialize(Metered {
        inner: &mut json,
        meter: &meter,
    });
    drop(decoded);
    if meter.over.get() {
        Err(meter.used.get())
    } else {
        Ok(())
    }
}

/// What has been charged so far, against the budget.
struct Meter {
    used: Cell<u64>,
    budget: u64,
    over: Cell<bool>,
}

impl Meter {
    /// Charges one value of type `V`; an error (ending the decode) once past the budget.
    fn charge<V, E: de::Error>(&self) -> Result<(), E> {
        let size = std::mem::size_of::<V>().max(1) as u64;
        let used = self.used.get().saturating_add(size);
        self.used.set(used);
        if used > self.budget {
            self.over.set(true);
            return Err(E::custom(format_args!(
                "the answer decodes into more than {} bytes",
                self.budget
            )));
        }
        Ok(())
    }
}

/// A deserializer whose lists and maps are charged to a meter.
struct Metered<'m, D> {
    inner: D,
    meter: &'m Meter,
}

/// A visitor whose lists and maps are charged to a meter.
struct Watch<'m, V> {
    inner: V,
    meter: &'m Meter,
    /// Whether entries are charged: not a struct's fields, which live inside the struct
    /// (already charged as a whole where it is an element), but what they hold is.
    charge: bool,
}

/// A seed whose value is decoded through a metered deserializer.
struct Seed<'m, S> {
    inner: S,
    meter: &'m Meter,
}

/// Forwards `deserialize_*` calls to the inner deserializer with the visitor watched. Every
/// method charges its entries but `deserialize_struct`, whose fields live inside the struct.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        forward_deserialize!(@one $method($($arg: $ty),*), charge: true);
    )*};
    (@one $method:ident($($arg:ident: $ty:ty),*), charge: $charge:literal) => {
        fn $method<V: Visitor<'de>>(
            self,
            $($arg: $ty,)*
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let visitor = Watch { inner: visitor, meter: self.meter, charge: $charge };
            self.inner.$method($($arg,)* visitor)
        }
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Metered<'_, D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any(),
        deserialize_bool(),
        deserialize_i8(),
        deserialize_i16(),
        deserialize_i32(),
        deserialize_i64(),
        deserialize_i128(),
        deserialize_u8(),
        deserialize_u16(),
        deserialize_u32(),
        deserialize_u64(),
        deserialize_u128(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_seq(),
        deserialize_map(),
        deserialize_identifier(),
        deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    );
    forward_deserialize!(
        @one deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        charge: false
    );

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Watch<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Metered {
            inner: d,
            meter: self.meter,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Metered {
            inner: d,
            meter: self.meter,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Watch {
            inner: seq,
            meter: self.meter,
            charge: self.charge,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Watch {
            inner: map,
            meter: self.meter,
            charge: self.charge,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Watch {
            inner: data,
            meter: self.meter,
            charge: true,
        })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Watch<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        if self.charge {
            self.meter.charge::<T::Value, A::Error>()?;
        }
        self.inner.next_element_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Watch<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.charge {
            self.meter.charge::<K::Value, A::Error>()?;
        }
        self.inner.next_key_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        if self.charge {
            self.meter.charge::<T::Value, A::Error>()?;
        }
        self.inner.next_value_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'm, A: EnumAccess<'de>> EnumAccess<'de> for Watch<'m, A> {
    type Error = A::Error;
    type Variant = Watch<'m, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            Watch {
                inner: variant,
                meter: self.meter,
                charge: true,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Watch<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            meter: self.meter,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = Watch {
            inner: visitor,
            meter: self.meter,
            charge: true,
        };
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = Watch {
            inner: visitor,
            meter: self.meter,
            charge: true,
        };
        self.inner.struct_variant(fields, visitor)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Metered {
            inner: d,
            meter: self.meter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Machine;

    fn list_of(element: &str, n: usize) -> Vec<u8> {
        let mut body = b"[".to_vec();
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(element.as_bytes());
        }
        body.push(b']');
        body
    }

    #[test]
    fn tiny_elements_are_charged_at_the_size_of_their_type() {
        let machine = std::mem::size_of::<Machine>() as u64;
        let body = list_of(r#"{"id":"m"}"#, 1000);
        let err = check::<Vec<Machine>>(&body, 100 * machine).unwrap_err();
        // Stopped at the element that passed the budget, not at the end.
        assert!(err > 100 * machine && err <= 102 * machine, "{err}");
        check::<Vec<Machine>>(&body, 2000 * machine).unwrap();
    }

    #[test]
    fn nested_lists_are_charged_by_their_own_types() {
        let services = list_of("{}", 10_000);
        let body = format!(
            r#"[{{"id":"m","config":{{"services":{}}}}}]"#,
            String::from_utf8(services).unwrap()
        );
        let service = std::mem::size_of::<crate::types::MachineService>() as u64;
        assert!(check::<Vec<Machine>>(body.as_bytes(), 1000 * service).is_err());
        check::<Vec<Machine>>(body.as_bytes(), 20_000 * service).unwrap();
    }

    #[test]
    fn maps_and_malformed_bodies_never_panic() {
        let env = format!(
            r#"{{"image":"x","env":{{{}}}}}"#,
            (0..1000)
                .map(|i| format!(r#""K{i}":"v""#))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(check::<crate::types::MachineConfig>(env.as_bytes(), 1000).is_err());
        check::<crate::types::MachineConfig>(env.as_bytes(), 1 << 20).unwrap();
        // Not JSON, or not the type: no charge over budget, so the generated decode reports it.
        for body in [&b"not json"[..], b"[", b"{\"id\":1}", b""] {
            assert_eq!(check::<Vec<Machine>>(body, 1 << 20), Ok(()));
        }
    }

    #[test]
    fn a_single_resource_is_not_charged_for_its_own_fields() {
        let one = br#"{"id":"m","config":{"image":"x","env":{"A":"1"}}}"#;
        // Only the env entry (two Strings) is charged.
        check::<Machine>(one, 100).unwrap();
        assert!(check::<Machine>(one, 10).is_err());
    }

    #[test]
    fn worst_growth_covers_the_largest_type() {
        // A two-byte element (`{}` and a comma) becoming a Machine is the worst case.
        assert!((std::mem::size_of::<Machine>() as u64) / 2 < WORST_GROWTH);
    }
}
