//! Reading `#[machine(...)]` on the struct and on its fields into a [`Model`], with every problem
//! collected in one darling accumulator so that the user sees all of them in one build.
//!
//! The top level is dispatched by hand (rather than by one derived struct) so that a bad key or
//! value in one section never hides the problems of another: each key is parsed on its own by its
//! darling `FromMeta` type, and the checks that span sections (duplicate env names and metadata
//! keys, `cmd` set twice, a missing `image`) run over whatever parsed.

use darling::ast::NestedMeta;
use darling::{Error, FromMeta};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Meta};

use crate::codegen::option_inner;
use crate::rules;
use crate::sections::{
    CheckAttr, DnsAttr, FileAttr, GuestAttr, InitAttr, MetricsAttr, MountAttr, ProcessAttr,
    RestartAttr, ServiceAttr, SpotAttr, StopAttr,
};
use crate::values::{
    Checked, Entry, EnvKeys, GuestPath, Image, Map, MetadataKeys, Schedule, Str, error_at,
    rule_error,
};

/// The attribute name the derive reads.
pub(crate) const ATTR: &str = "machine";

/// Keys accepted in `#[machine(...)]` on the struct.
const CONTAINER_KEYS: &[&str] = &[
    "image",
    "crate",
    "guest",
    "auto_destroy",
    "restart",
    "service",
    "check",
    "mount",
    "stop",
    "init",
    "metadata",
    "env",
    "schedule",
    "dns",
    "file",
    "process",
    "metrics",
    "spot",
];

/// Keys accepted in `#[machine(...)]` on a field.
const FIELD_KEYS: &[&str] = &[
    "image",
    "guest",
    "env",
    "metadata",
    "cmd",
    "entrypoint",
    "file",
    "mount",
    "skip",
];

/// Everything the struct-level attribute says.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub image: Option<Image>,
    pub krate: Option<syn::Path>,
    pub guest: Option<Checked<GuestAttr>>,
    pub auto_destroy: Option<bool>,
    pub restart: Option<Checked<RestartAttr>>,
    pub services: Vec<ServiceAttr>,
    pub checks: Vec<Checked<CheckAttr>>,
    pub mounts: Vec<Checked<MountAttr>>,
    pub stop: Option<StopAttr>,
    pub init: Option<InitAttr>,
    pub metadata: Vec<Entry>,
    pub env: Vec<Entry>,
    pub schedule: Option<Schedule>,
    pub dns: Option<DnsAttr>,
    pub files: Vec<Checked<FileAttr>>,
    pub processes: Vec<ProcessAttr>,
    pub metrics: Option<MetricsAttr>,
    pub spot: Option<SpotAttr>,
    /// Where `image = "..."` was written, for errors about the image given twice.
    pub image_span: Option<Span>,
    /// Where `guest(...)` was written, likewise.
    pub guest_span: Option<Span>,
    /// Keys that were not recognised (already reported).
    pub unknown_keys: Vec<String>,
    /// Whether `image` was written at all, even with a bad value (already reported).
    pub image_given: bool,
}

/// Where a field's value goes.
pub(crate) struct FieldAttrs {
    pub ident: syn::Ident,
    pub ty: syn::Type,
    /// The field's value is the image (`#[machine(image)]`), at this key.
    pub image: Option<Span>,
    /// The field's value is the guest (`#[machine(guest)]`), at this key.
    pub guest: Option<Span>,
    pub env: Option<(String, Span)>,
    pub metadata: Option<(String, Span)>,
    pub cmd: Option<Span>,
    pub entrypoint: Option<Span>,
    pub file: Option<GuestPath>,
    /// The guest path where the volume whose id is the field's value is mounted.
    pub mount: Option<GuestPath>,
}

impl FieldAttrs {
    fn is_used(&self) -> bool {
        self.image.is_some()
            || self.guest.is_some()
            || self.env.is_some()
            || self.metadata.is_some()
            || self.cmd.is_some()
            || self.entrypoint.is_some()
            || self.file.is_some()
            || self.mount.is_some()
    }
}

/// The parsed and checked input of the derive.
pub(crate) struct Model {
    pub ident: syn::Ident,
    pub generics: syn::Generics,
    pub container: ContainerAttrs,
    pub fields: Vec<FieldAttrs>,
}

impl Model {
    /// Reads and checks the whole input, returning every problem found.
    pub(crate) fn from_input(input: &DeriveInput) -> darling::Result<Model> {
        let mut acc = Error::accumulator();

        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named.named.iter().collect(),
                Fields::Unit => Vec::new(),
                Fields::Unnamed(unnamed) => {
                    acc.push(error_at(
                        unnamed.span(),
                        "#[derive(MachineConfig)] needs a struct with named fields (or no fields), \
                         so that each field can say where its value goes; this is a tuple struct",
                    ));
                    Vec::new()
                }
            },
            Data::Enum(data) => {
                acc.push(error_at(
                    data.enum_token.span,
                    "#[derive(MachineConfig)] works on structs only, not on enums",
                ));
                Vec::new()
            }
            Data::Union(data) => {
                acc.push(error_at(
                    data.union_token.span,
                    "#[derive(MachineConfig)] works on structs only, not on unions",
                ));
                Vec::new()
            }
        };

        let container = parse_container(&input.attrs, &mut acc);
        // Whether a field says `image` at all, even wrongly (that error is already reported).
        let mut field_image_written = false;
        let fields: Vec<FieldAttrs> = fields
            .into_iter()
            .filter_map(|field| parse_field(field, &mut field_image_written, &mut acc))
            .filter(FieldAttrs::is_used)
            .collect();

        // A misspelled `image` already has its "did you mean"; saying it is missing adds nothing.
        let image_misspelled = container
            .unknown_keys
            .iter()
            .any(|key| rules::closest(key, &["image"]).is_some());
        if container.image.is_none()
            && !container.image_given
            && !image_misspelled
            && !field_image_written
        {
            acc.push(error_at(
                input.ident.span(),
                "missing `image`: add `#[machine(image = \"registry.fly.io/app:tag\")]`, or \
                 `#[machine(image)]` on a field that holds it",
            ));
        }
        check_field_overrides(&container, &fields, &mut acc);

        check_duplicates(&container, &fields, &mut acc);

        acc.finish_with(Model {
            ident: input.ident.clone(),
            generics: input.generics.clone(),
            container,
            fields,
        })
    }
}

/// The `#[machine(...)]` items in `attrs`, in order.
fn machine_items(attrs: &[Attribute], acc: &mut darling::error::Accumulator) -> Vec<NestedMeta> {
    let mut items = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        match &attr.meta {
            Meta::List(list) => {
                if let Some(parsed) = acc
                    .handle(NestedMeta::parse_meta_list(list.tokens.clone()).map_err(Error::from))
                {
                    items.extend(parsed);
                }
            }
            other => acc.push(error_at(
                other.span(),
                "expected `#[machine(...)]` with a list of settings",
            )),
        }
    }
    items
}

/// The key of an item and its span, or an error for a bare literal.
fn item_key(item: &NestedMeta) -> darling::Result<(String, Span)> {
    match item {
        NestedMeta::Meta(meta) => Ok((
            darling::util::path_to_string(meta.path()),
            meta.path().span(),
        )),
        NestedMeta::NameValueInvalidExpr(nv) => {
            Ok((darling::util::path_to_string(&nv.path), nv.path.span()))
        }
        NestedMeta::Lit(lit) => Err(error_at(
            lit.span(),
            "expected a setting such as `image = \"...\"`, not a bare literal",
        )),
    }
}

/// An unknown key, with the closest known one when the shared rules find one (they catch swapped
/// letters, which darling's own matching may not), else darling's list of known keys.
fn unknown_key(key: &str, known: &[&'static str], span: Span) -> Error {
    match rules::closest(key, known) {
        Some(close) => error_at(
            span,
            format!("Unknown field: `{key}`. Did you mean `{close}`?"),
        ),
        None => Error::unknown_field_with_alts(key, known).with_span(&span),
    }
}

/// Stores a value given once; a second occurrence is an error at its key.
fn set_once<T>(
    slot: &mut Option<T>,
    parsed: darling::Result<T>,
    key: &str,
    key_span: Span,
    acc: &mut darling::error::Accumulator,
) {
    let Some(value) = acc.handle(parsed) else {
        return;
    };
    if slot.is_some() {
        acc.push(Error::duplicate_field(key).with_span(&key_span));
    } else {
        *slot = Some(value);
    }
}

fn push<T>(list: &mut Vec<T>, parsed: darling::Result<T>, acc: &mut darling::error::Accumulator) {
    if let Some(value) = acc.handle(parsed) {
        list.push(value);
    }
}

fn parse_container(attrs: &[Attribute], acc: &mut darling::error::Accumulator) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for item in machine_items(attrs, acc) {
        let Some((key, key_span)) = acc.handle(item_key(&item)) else {
            continue;
        };
        match key.as_str() {
            "image" => {
                out.image_given = true;
                out.image_span.get_or_insert(key_span);
                set_once(
                    &mut out.image,
                    Image::from_nested_meta(&item),
                    &key,
                    key_span,
                    acc,
                );
            }
            "crate" => set_once(
                &mut out.krate,
                Str::from_nested_meta(&item).and_then(|s| {
                    syn::parse_str::<syn::Path>(&s.value).map_err(|_| {
                        error_at(
                            s.span,
                            format!(
                                "invalid crate `{}`: expected a path such as `::fly_machines` or \
                                 `my_sdk::fly`",
                                s.value
                            ),
                        )
                    })
                }),
                &key,
                key_span,
                acc,
            ),
            "guest" => {
                out.guest_span.get_or_insert(key_span);
                set_once(
                    &mut out.guest,
                    FromMeta::from_nested_meta(&item),
                    &key,
                    key_span,
                    acc,
                );
            }
            "auto_destroy" => set_once(
                &mut out.auto_destroy,
                bool::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "restart" => set_once(
                &mut out.restart,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "service" => push(&mut out.services, FromMeta::from_nested_meta(&item), acc),
            "check" => push(&mut out.checks, FromMeta::from_nested_meta(&item), acc),
            "mount" => push(&mut out.mounts, FromMeta::from_nested_meta(&item), acc),
            "stop" => set_once(
                &mut out.stop,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "init" => set_once(
                &mut out.init,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "metadata" => {
                if let Some(map) = acc.handle(Map::<MetadataKeys>::from_nested_meta(&item)) {
                    out.metadata.extend(map.entries);
                }
            }
            "env" => {
                if let Some(map) = acc.handle(Map::<EnvKeys>::from_nested_meta(&item)) {
                    out.env.extend(map.entries);
                }
            }
            "schedule" => set_once(
                &mut out.schedule,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "dns" => set_once(
                &mut out.dns,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "file" => push(&mut out.files, FromMeta::from_nested_meta(&item), acc),
            "process" => push(&mut out.processes, FromMeta::from_nested_meta(&item), acc),
            "metrics" => set_once(
                &mut out.metrics,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            "spot" => set_once(
                &mut out.spot,
                FromMeta::from_nested_meta(&item),
                &key,
                key_span,
                acc,
            ),
            other => {
                acc.push(unknown_key(other, CONTAINER_KEYS, key_span));
                out.unknown_keys.push(other.to_owned());
            }
        }
    }
    out
}

/// A field setting that is a bare word or takes an optional string: `env` or `env = "NAME"`.
fn word_or_str(item: &NestedMeta) -> darling::Result<Option<Str>> {
    match item {
        NestedMeta::Meta(Meta::Path(_)) => Ok(None),
        _ => Str::from_nested_meta(item).map(Some),
    }
}

/// A field setting that must be a bare word: `cmd`, `entrypoint`, `skip`.
fn word(item: &NestedMeta, key: &str) -> darling::Result<()> {
    match item {
        NestedMeta::Meta(Meta::Path(_)) => Ok(()),
        other => Err(error_at(
            other.span(),
            format!("`{key}` takes no value: write `#[machine({key})]`"),
        )),
    }
}

/// Reads one field's `#[machine(...)]`. Returns `None` for a skipped field or one whose attribute
/// had errors (already recorded).
fn parse_field(
    field: &syn::Field,
    image_written: &mut bool,
    acc: &mut darling::error::Accumulator,
) -> Option<FieldAttrs> {
    let ident = field.ident.clone()?;
    let mut out = FieldAttrs {
        ident: ident.clone(),
        ty: field.ty.clone(),
        image: None,
        guest: None,
        env: None,
        metadata: None,
        cmd: None,
        entrypoint: None,
        file: None,
        mount: None,
    };
    let mut skip: Option<Span> = None;
    let mut others: Vec<(String, Span)> = Vec::new();
    let mut ok = true;
    let mut fail = |acc: &mut darling::error::Accumulator, err: Error| {
        acc.push(err);
        ok = false;
    };

    for item in machine_items(&field.attrs, acc) {
        let (key, key_span) = match item_key(&item) {
            Ok(k) => k,
            Err(err) => {
                fail(acc, err);
                continue;
            }
        };
        *image_written |= key == "image";
        let duplicate =
            |taken: bool| taken.then(|| Error::duplicate_field(&key).with_span(&key_span));
        match key.as_str() {
            "env" => {
                if let Some(err) = duplicate(out.env.is_some()) {
                    fail(acc, err);
                    continue;
                }
                let name = match word_or_str(&item) {
                    Ok(Some(given)) => rules::check_env_name(&given.value)
                        .map(|()| (given.value.clone(), given.span))
                        .map_err(|err| rule_error(given.span, err)),
                    Ok(None) => {
                        let name = rules::env_name_for_field(&ident.to_string());
                        rules::check_env_name(&name)
                            .map(|()| (name, key_span))
                            .map_err(|err| rule_error(key_span, err))
                    }
                    Err(err) => Err(err),
                };
                match name {
                    Ok(name) => out.env = Some(name),
                    Err(err) => fail(acc, err),
                }
                others.push((key, key_span));
            }
            "metadata" => {
                if let Some(err) = duplicate(out.metadata.is_some()) {
                    fail(acc, err);
                    continue;
                }
                let entry = match word_or_str(&item) {
                    Ok(Some(given)) => rules::check_metadata_key(&given.value)
                        .map(|()| (given.value.clone(), given.span))
                        .map_err(|err| rule_error(given.span, err)),
                    Ok(None) => Ok((
                        ident.to_string().trim_start_matches("r#").to_owned(),
                        key_span,
                    )),
                    Err(err) => Err(err),
                };
                match entry {
                    Ok(entry) => out.metadata = Some(entry),
                    Err(err) => fail(acc, err),
                }
                others.push((key, key_span));
            }
            "cmd" | "entrypoint" | "image" | "guest" => {
                let slot = match key.as_str() {
                    "cmd" => &mut out.cmd,
                    "entrypoint" => &mut out.entrypoint,
                    "image" => &mut out.image,
                    _ => &mut out.guest,
                };
                if let Some(err) = duplicate(slot.is_some()) {
                    fail(acc, err);
                    continue;
                }
                match word(&item, &key) {
                    Ok(()) => *slot = Some(key_span),
                    Err(err) => fail(acc, err),
                }
                others.push((key, key_span));
            }
            "file" => {
                if let Some(err) = duplicate(out.file.is_some()) {
                    fail(acc, err);
                    continue;
                }
                match GuestPath::from_nested_meta(&item) {
                    Ok(path) => out.file = Some(path),
                    Err(err) => fail(acc, err),
                }
                others.push((key, key_span));
            }
            "mount" => {
                if let Some(err) = duplicate(out.mount.is_some()) {
                    fail(acc, err);
                    continue;
                }
                match GuestPath::from_nested_meta(&item) {
                    Ok(path) => out.mount = Some(path),
                    Err(err) => fail(acc, err),
                }
                others.push((key, key_span));
            }
            "skip" => {
                if let Some(err) = duplicate(skip.is_some()) {
                    fail(acc, err);
                    continue;
                }
                match word(&item, &key) {
                    Ok(()) => skip = Some(key_span),
                    Err(err) => fail(acc, err),
                }
            }
            other => fail(acc, unknown_key(other, FIELD_KEYS, key_span)),
        }
    }

    if let Some(skip_span) = skip {
        for (key, _) in &others {
            fail(
                acc,
                error_at(
                    skip_span,
                    format!(
                        "`skip` cannot be combined with `{key}`: a skipped field is left out of \
                         the config"
                    ),
                ),
            );
        }
        return None;
    }
    ok.then_some(out)
}

/// A value given on the struct and by a field that always has one: the struct's would never be
/// used. With an `Option` field the struct's value is the default for `None`, which is fine.
fn check_field_overrides(
    container: &ContainerAttrs,
    fields: &[FieldAttrs],
    acc: &mut darling::error::Accumulator,
) {
    for field in fields.iter().filter(|f| option_inner(&f.ty).is_none()) {
        let pairs = [
            ("image", field.image, container.image_span),
            ("guest", field.guest, container.guest_span),
        ];
        for (key, at_field, at_struct) in pairs {
            if let (Some(at_field), Some(at_struct)) = (at_field, at_struct) {
                acc.push(error_at(
                    at_field,
                    format!(
                        "`{key}` is set on the struct and by field `{}`, whose value always \
                         replaces it; remove one, or make the field an `Option` so that the \
                         struct's `{key}` is its default",
                        field.ident
                    ),
                ));
                acc.push(error_at(
                    at_struct,
                    format!("note: the struct's `{key}` is set here"),
                ));
            }
        }
    }
}

/// Reports the second and later uses of a name with an error at each, and a note at the first.
struct Seen<'a> {
    what: &'a str,
    first: Vec<(String, Span)>,
}

impl<'a> Seen<'a> {
    fn new(what: &'a str) -> Self {
        Seen {
            what,
            first: Vec::new(),
        }
    }

    fn add(&mut self, name: &str, span: Span, acc: &mut darling::error::Accumulator) {
        if let Some((_, first_span)) = self.first.iter().find(|(n, _)| n == name) {
            acc.push(error_at(span, format!("duplicate {} `{name}`", self.what)));
            acc.push(error_at(
                *first_span,
                format!("note: {} `{name}` is first set here", self.what),
            ));
        } else {
            self.first.push((name.to_owned(), span));
        }
    }
}

fn check_duplicates(
    container: &ContainerAttrs,
    fields: &[FieldAttrs],
    acc: &mut darling::error::Accumulator,
) {
    let mut env = Seen::new("env name");
    let mut metadata = Seen::new("metadata key");
    for entry in &container.env {
        env.add(&entry.key, entry.key_span, acc);
    }
    for entry in &container.metadata {
        metadata.add(&entry.key, entry.key_span, acc);
    }
    let mut image = Seen::new("setting");
    let mut guest = Seen::new("setting");
    for field in fields {
        if let Some(span) = field.image {
            image.add("image", span, acc);
        }
        if let Some(span) = field.guest {
            guest.add("guest", span, acc);
        }
    }
    let mut cmd = Seen::new("setting");
    let mut entrypoint = Seen::new("setting");
    if let Some(init) = &container.init {
        if let Some(list) = &init.cmd {
            cmd.add("init.cmd", list.1, acc);
        }
        if let Some(list) = &init.entrypoint {
            entrypoint.add("init.entrypoint", list.1, acc);
        }
    }
    for field in fields {
        if let Some((name, span)) = &field.env {
            env.add(name, *span, acc);
        }
        if let Some((key, span)) = &field.metadata {
            metadata.add(key, *span, acc);
        }
        if let Some(span) = field.cmd {
            cmd.add("init.cmd", span, acc);
        }
        if let Some(span) = field.entrypoint {
            entrypoint.add("init.entrypoint", span, acc);
        }
    }

    let mut checks = Seen::new("check name");
    for check in &container.checks {
        checks.add(&check.name.value, check.name.span, acc);
    }
    let mut paths = Seen::new("file path");
    for file in &container.files {
        paths.add(&file.guest_path.0.value, file.guest_path.0.span, acc);
    }
    for field in fields {
        if let Some(path) = &field.file {
            paths.add(&path.0.value, path.0.span, acc);
        }
    }
    let mut mount_paths = Seen::new("mount path");
    for mount in &container.mounts {
        mount_paths.add(&mount.path.0.value, mount.path.0.span, acc);
    }
    for field in fields {
        if let Some(path) = &field.mount {
            mount_paths.add(&path.0.value, path.0.span, acc);
        }
    }
    for process in &container.processes {
        let mut process_env = Seen::new("env name");
        for entry in process.env.iter().flat_map(|m| &m.entries) {
            process_env.add(&entry.key, entry.key_span, acc);
        }
    }
}
