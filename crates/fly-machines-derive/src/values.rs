//! Leaf values of the attribute language: literals with their spans, each checked against the
//! shared rule table as darling parses it, so that a bad value is reported at the value itself and
//! alongside every other error in the same attribute.

use std::fmt;

use darling::ast::NestedMeta;
use darling::{Error, FromMeta};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, UnOp};

use crate::rules::{self, RuleError};

/// An error at `span`.
pub(crate) fn error_at(span: Span, message: impl fmt::Display) -> Error {
    syn::Error::new(span, message.to_string()).into()
}

/// A rule violation reported at `span`.
pub(crate) fn rule_error(span: Span, err: RuleError) -> Error {
    error_at(span, err)
}

/// The key of a `key = value` or `key(...)` item, e.g. `internal_port`.
fn key_of(item: &Meta) -> String {
    darling::util::path_to_string(item.path())
}

/// Strips the invisible groups `macro_rules!` may wrap around an expression.
fn ungroup(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungroup(&group.expr),
        Expr::Paren(paren) => ungroup(&paren.expr),
        other => other,
    }
}

/// A string literal.
#[derive(Clone, Debug)]
pub(crate) struct Str {
    pub value: String,
    pub span: Span,
}

impl FromMeta for Str {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        match lit {
            Lit::Str(s) => Ok(Str {
                value: s.value(),
                span: s.span(),
            }),
            other => Err(Error::unexpected_lit_type(other)),
        }
    }
}

/// An integer literal, possibly negative (so that a negative value gets the rule's message rather
/// than a parse error).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int {
    pub value: i64,
    pub span: Span,
}

impl Int {
    fn from_lit(lit: &Lit, negative: bool, span: Span) -> darling::Result<Self> {
        match lit {
            Lit::Int(int) => {
                let magnitude: i64 = int.base10_parse().map_err(Error::from)?;
                Ok(Int {
                    value: if negative { -magnitude } else { magnitude },
                    span,
                })
            }
            other => Err(Error::unexpected_lit_type(other)),
        }
    }
}

impl FromMeta for Int {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        Int::from_lit(lit, false, lit.span())
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match ungroup(expr) {
            Expr::Lit(lit) => Int::from_lit(&lit.lit, false, expr.span()),
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match ungroup(&unary.expr) {
                Expr::Lit(lit) => Int::from_lit(&lit.lit, true, expr.span()),
                _ => Err(Error::unexpected_expr_type(expr)),
            },
            _ => Err(Error::unexpected_expr_type(expr)),
        }
        .map_err(|e| e.with_span(expr))
    }
}

/// A floating-point literal (an integer literal is accepted too).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Float {
    pub value: f64,
}

impl FromMeta for Float {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        let value: f64 = match lit {
            Lit::Float(f) => f.base10_parse().map_err(Error::from)?,
            Lit::Int(i) => i.base10_parse().map_err(Error::from)?,
            other => return Err(Error::unexpected_lit_type(other)),
        };
        if value.is_finite() {
            Ok(Float { value })
        } else {
            Err(error_at(
                lit.span(),
                format!("invalid number `{value}`: expected a finite number"),
            ))
        }
    }
}

/// Declares a string value restricted to a closed set of words by a function of the rule table.
macro_rules! word {
    ($(#[$doc:meta])* $name:ident => $check:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub(crate) struct $name {
            pub value: &'static str,
        }

        impl FromMeta for $name {
            fn from_value(lit: &Lit) -> darling::Result<Self> {
                let s = Str::from_value(lit)?;
                $check(&s.value)
                    .map(|value| $name { value })
                    .map_err(|err| rule_error(s.span, err))
            }
        }
    };
}

word!(
    /// `protocol = "tcp" | "udp"`.
    Protocol => rules::check_protocol
);
word!(
    /// `policy = "no" | "always" | "on-failure" | "spot-price"`.
    RestartPolicy => rules::check_restart_policy
);
word!(
    /// `signal = "SIGTERM"` and the other stop signals.
    StopSignal => rules::check_stop_signal
);
word!(
    /// `schedule = "hourly" | "daily" | "weekly" | "monthly"`.
    Schedule => rules::check_schedule
);
word!(
    /// A check's `kind = "tcp" | "http"`.
    CheckType => rules::check_check_type
);
word!(
    /// A check's `role = "informational" | "readiness"`.
    CheckRole => rules::check_check_role
);
word!(
    /// A check's `protocol = "http" | "https"`.
    CheckScheme => rules::check_check_scheme
);
word!(
    /// A concurrency `kind = "connections" | "requests"`.
    ConcurrencyType => rules::check_concurrency_type
);

/// `autostop = "off" | "stop" | "suspend"`, or a boolean as Fly also takes it.
#[derive(Clone, Debug)]
pub(crate) enum Autostop {
    Bool(bool),
    Word(&'static str),
}

impl FromMeta for Autostop {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        match lit {
            Lit::Bool(b) => Ok(Autostop::Bool(b.value)),
            _ => {
                let s = Str::from_value(lit)?;
                rules::check_autostop(&s.value)
                    .map(Autostop::Word)
                    .map_err(|err| rule_error(s.span, err))
            }
        }
    }
}

/// `image = "..."`: a non-empty image reference.
#[derive(Clone, Debug)]
pub(crate) struct Image(pub Str);

impl FromMeta for Image {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        let s = Str::from_value(lit)?;
        rules::check_image(&s.value).map_err(|err| rule_error(s.span, err))?;
        Ok(Image(s))
    }
}

/// A Go duration string such as `"15s"`.
#[derive(Clone, Debug)]
pub(crate) struct GoDuration(pub Str);

impl FromMeta for GoDuration {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        let s = Str::from_value(lit)?;
        rules::parse_go_duration(&s.value).map_err(|err| rule_error(s.span, err))?;
        Ok(GoDuration(s))
    }
}

/// An absolute path inside the machine; the key names the setting in errors.
#[derive(Clone, Debug)]
pub(crate) struct GuestPath(pub Str);

impl FromMeta for GuestPath {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let key = key_of(item);
        let s: Str = FromMeta::from_meta(item)?;
        rules::check_guest_path(&key, &s.value).map_err(|err| rule_error(s.span, err))?;
        Ok(GuestPath(s))
    }
}

/// A port number, 1 to 65535; the key names the setting in errors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Port(pub Int);

impl FromMeta for Port {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let key = key_of(item);
        let int: Int = FromMeta::from_meta(item)?;
        rules::check_port(&key, int.value).map_err(|err| rule_error(int.span, err))?;
        Ok(Port(int))
    }
}

/// A count of zero or more; the key names the setting in errors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Count(pub Int);

impl FromMeta for Count {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let key = key_of(item);
        let int: Int = FromMeta::from_meta(item)?;
        rules::check_count(&key, int.value).map_err(|err| rule_error(int.span, err))?;
        Ok(Count(int))
    }
}

/// `spot(max_price_fraction = 0.5)`: the share of the full price a spot machine may cost. A
/// negative number reaches the rule too, so it gets the rule's message rather than a parse error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpotFraction(pub f64);

impl SpotFraction {
    fn magnitude(lit: &Lit) -> darling::Result<f64> {
        match lit {
            Lit::Float(f) => f.base10_parse().map_err(Error::from),
            Lit::Int(i) => i.base10_parse().map_err(Error::from),
            other => Err(Error::unexpected_lit_type(other)),
        }
    }
}

impl FromMeta for SpotFraction {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let value = match ungroup(expr) {
            Expr::Lit(lit) => Self::magnitude(&lit.lit),
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match ungroup(&unary.expr) {
                Expr::Lit(lit) => Self::magnitude(&lit.lit).map(|m| -m),
                _ => Err(Error::unexpected_expr_type(expr)),
            },
            _ => Err(Error::unexpected_expr_type(expr)),
        }
        .map_err(|e| e.with_span(expr))?;
        rules::check_spot_price_fraction(value)
            .map(SpotFraction)
            .map_err(|err| rule_error(expr.span(), err))
    }
}

/// A file permission mode such as `0o644`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileMode(pub Int);

impl FromMeta for FileMode {
    fn from_value(lit: &Lit) -> darling::Result<Self> {
        let int = Int::from_value(lit)?;
        rules::check_file_mode(int.value).map_err(|err| rule_error(int.span, err))?;
        Ok(FileMode(int))
    }
}

/// A list of string literals, `["a", "b"]`, with the span of the whole list.
#[derive(Clone, Debug)]
pub(crate) struct StrList(pub Vec<Str>, pub Span);

impl FromMeta for StrList {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match ungroup(expr) {
            Expr::Array(array) => {
                let mut acc = Error::accumulator();
                let items = array
                    .elems
                    .iter()
                    .filter_map(|elem| {
                        acc.handle(match ungroup(elem) {
                            Expr::Lit(lit) => Str::from_value(&lit.lit),
                            _ => Err(Error::custom("expected a string literal").with_span(elem)),
                        })
                    })
                    .collect();
                acc.finish_with(StrList(items, expr.span()))
            }
            _ => Err(
                Error::custom("expected a list of strings, such as `[\"a\", \"b\"]`")
                    .with_span(expr),
            ),
        }
    }
}

/// `handlers = ["tls", "http"]`: each one checked, each error at its own element.
#[derive(Clone, Debug, Default)]
pub(crate) struct Handlers(pub Vec<&'static str>);

impl FromMeta for Handlers {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let list = StrList::from_expr(expr)?;
        let mut acc = Error::accumulator();
        let handlers = list
            .0
            .iter()
            .filter_map(|s| {
                acc.handle(rules::check_handler(&s.value).map_err(|err| rule_error(s.span, err)))
            })
            .collect();
        acc.finish_with(Handlers(handlers))
    }
}

/// One `NAME = value` entry of `env(...)` or `metadata(...)`.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: String,
}

/// Which kind of map the entries are for, and so which rule their keys follow.
pub(crate) trait MapKind {
    fn check_key(key: &str) -> Result<(), RuleError>;
}

/// Keys of `env(...)`: environment variable names.
#[derive(Clone, Debug)]
pub(crate) struct EnvKeys;

impl MapKind for EnvKeys {
    fn check_key(key: &str) -> Result<(), RuleError> {
        rules::check_env_name(key)
    }
}

/// Keys of `metadata(...)`.
#[derive(Clone, Debug)]
pub(crate) struct MetadataKeys;

impl MapKind for MetadataKeys {
    fn check_key(key: &str) -> Result<(), RuleError> {
        rules::check_metadata_key(key)
    }
}

/// `env(RUST_LOG = "info", ...)` or `metadata(role = "worker", ...)`: literal values of any kind
/// become strings, as `Display` would write them.
#[derive(Clone, Debug)]
pub(crate) struct Map<K> {
    pub entries: Vec<Entry>,
    _kind: std::marker::PhantomData<K>,
}

impl<K: MapKind> FromMeta for Map<K> {
    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let mut acc = Error::accumulator();
        let mut entries = Vec::new();
        for item in items {
            let NestedMeta::Meta(Meta::NameValue(nv)) = item else {
                acc.push(Error::custom("expected `NAME = \"value\"`").with_span(item));
                continue;
            };
            let key = darling::util::path_to_string(&nv.path);
            let key_span = nv.path.span();
            if let Err(err) = K::check_key(&key) {
                acc.push(rule_error(key_span, err));
            }
            let value = match ungroup(&nv.value) {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value()),
                    Lit::Int(i) => Some(i.base10_digits().to_owned()),
                    Lit::Float(f) => Some(f.base10_digits().to_owned()),
                    Lit::Bool(b) => Some(b.value.to_string()),
                    Lit::Char(c) => Some(c.value().to_string()),
                    other => {
                        acc.push(Error::unexpected_lit_type(other));
                        None
                    }
                },
                other => {
                    acc.push(
                        Error::custom("expected a literal value, such as `\"info\"`")
                            .with_span(other),
                    );
                    None
                }
            };
            if let Some(value) = value {
                entries.push(Entry {
                    key,
                    key_span,
                    value,
                });
            }
        }
        acc.finish_with(Map {
            entries,
            _kind: std::marker::PhantomData,
        })
    }
}

/// A section whose fields need checking together once darling has read them; `whole` is the span
/// of the section's key, for problems that belong to no single value.
pub(crate) trait Check: Sized {
    fn check(self, whole: Span) -> darling::Result<Self>;
}

/// A section read by its derived `FromMeta` and then checked as a whole.
#[derive(Clone, Debug)]
pub(crate) struct Checked<T>(pub T);

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromMeta + Check> FromMeta for Checked<T> {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let value = T::from_meta(item)?;
        value.check(item.path().span()).map(Checked)
    }
}
