//! One macro for the open enums: named variants for the words Fly documents, and `Other` for
//! any other word, kept as sent so nothing the server says is lost.

/// Declares an open enum: `name => "wire word"` pairs, plus `Other(String)`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $word:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A word this version does not name (or an empty one when the field was absent),
            /// kept as sent.
            Other(::std::string::String),
        }

        impl $name {
            /// Reads the word as Fly sends it; unknown words become `Other`.
            pub fn parse(word: &str) -> $name {
                match word {
                    $( $word => $name::$variant, )+
                    other => $name::Other(other.to_string()),
                }
            }

            /// The word as Fly writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $word, )+
                    $name::Other(word) => word,
                }
            }

            /// The word of a named variant, as a `'static` string; `None` for `Other`.
            pub fn known_word(&self) -> ::core::option::Option<&'static str> {
                match self {
                    $( $name::$variant => ::core::option::Option::Some($word), )+
                    $name::Other(_) => ::core::option::Option::None,
                }
            }

            /// Whether this is a word this version does not name.
            pub fn is_other(&self) -> bool {
                matches!(self, $name::Other(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(word: &str) -> $name {
                $name::parse(word)
            }
        }

        impl ::std::cmp::PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl ::std::cmp::PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub(crate) use open_enum;
