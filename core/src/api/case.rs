//! The views with snake_case field names: a serde adapter that renames struct fields while
//! serialising, for hosts whose convention is snake_case (the CLI's `--json`).
//!
//! Only the names of struct fields change (`parentHash` → `parent_hash`); map keys are data
//! (a checkpoint's metadata) and pass through untouched, as do all values. Structs come out as
//! maps, which is the same thing in JSON.

use alloc::string::String;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// `T`, serialised with snake_case struct field names.
///
/// ```
/// use rewind_core::api::SnakeCase;
/// #[derive(serde::Serialize)]
/// #[serde(rename_all = "camelCase")]
/// struct View { state_len: u64 }
/// let text = serde_json::to_string(&SnakeCase(View { state_len: 3 })).unwrap();
/// assert_eq!(text, r#"{"state_len":3}"#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SnakeCase<T>(pub T);

impl<T: Serialize> Serialize for SnakeCase<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Renamer(serializer))
    }
}

/// `parentHash` → `parent_hash`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

struct Renamer<S>(S);

/// A compound serializer whose elements are renamed too.
struct Each<C>(C);

/// A struct, written as a map with renamed keys.
struct Fields<M>(M);

/// A struct variant, written as `{variant: {fields}}` with renamed keys.
struct VariantFields<M> {
    map: M,
    fields: serde_json::Map<String, serde_json::Value>,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.0.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for Renamer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Each<S::SerializeSeq>;
    type SerializeTuple = Each<S::SerializeTuple>;
    type SerializeTupleStruct = Each<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Each<S::SerializeTupleVariant>;
    type SerializeMap = Each<S::SerializeMap>;
    type SerializeStruct = Fields<S::SerializeMap>;
    type SerializeStructVariant = VariantFields<S::SerializeMap>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&SnakeCase(value))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &SnakeCase(value))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &SnakeCase(value))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Each)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Each)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Each)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Each)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Each)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_map(Some(len)).map(Fields)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let mut map = self.0.serialize_map(Some(1))?;
        map.serialize_key(variant)?;
        Ok(VariantFields {
            map,
            fields: serde_json::Map::new(),
        })
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! each {
    ($trait:ident, $method:ident) => {
        impl<C: $trait> $trait for Each<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
                self.0.$method(&SnakeCase(value))
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        }
    };
}

each!(SerializeSeq, serialize_element);
each!(SerializeTuple, serialize_element);
each!(SerializeTupleStruct, serialize_field);
each!(SerializeTupleVariant, serialize_field);

impl<M: SerializeMap> SerializeMap for Each<M> {
    type Ok = M::Ok;
    type Error = M::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), M::Error> {
        // Map keys are data: left as they are.
        self.0.serialize_key(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), M::Error> {
        self.0.serialize_value(&SnakeCase(value))
    }
    fn end(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

impl<M: SerializeMap> SerializeStruct for Fields<M> {
    type Ok = M::Ok;
    type Error = M::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        self.0.serialize_entry(&snake(key), &SnakeCase(value))
    }
    fn end(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

impl<M: SerializeMap> SerializeStructVariant for VariantFields<M> {
    type Ok = M::Ok;
    type Error = M::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        let value = serde_json::to_value(SnakeCase(value)).map_err(ser::Error::custom)?;
        self.fields.insert(snake(key), value);
        Ok(())
    }
    fn end(mut self) -> Result<M::Ok, M::Error> {
        self.map.serialize_value(&self.fields)?;
        self.map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        state_len: u64,
        metadata: serde_json::Value,
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    enum Shape {
        BigOne { first_field: u8 },
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        parent_hash: Option<&'static str>,
        items: alloc::vec::Vec<Inner>,
        nested: Option<Inner>,
        shape: Shape,
    }

    #[test]
    fn struct_fields_are_renamed_and_map_keys_are_not() {
        let value = Outer {
            parent_hash: None,
            items: alloc::vec![Inner {
                state_len: 1,
                metadata: json!({"camelKey": {"deepKey": 1}}),
            }],
            nested: Some(Inner {
                state_len: 2,
                metadata: json!({}),
            }),
            shape: Shape::BigOne { first_field: 3 },
        };
        assert_eq!(
            serde_json::to_value(SnakeCase(&value)).unwrap(),
            json!({
                "parent_hash": null,
                "items": [{"state_len": 1, "metadata": {"camelKey": {"deepKey": 1}}}],
                "nested": {"state_len": 2, "metadata": {}},
                "shape": {"bigOne": {"first_field": 3}},
            })
        );
    }
}
