//! Turning a checked [`Model`] into the `impl MachineConfig`. Every path in the output is fully
//! qualified (`::core`, `::std`, and the `fly_machines` path, which `crate = "..."` overrides), so
//! the code works whatever the user's module has in scope.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type, parse_quote};

use crate::attrs::{FieldAttrs, Model};
use crate::rules;
use crate::sections::{CheckCommon, PortAttr, ServiceAttr};
use crate::values::{Autostop, Entry, Str, StrList};

/// The generated impl for `model`.
pub(crate) fn generate(model: &Model) -> TokenStream {
    let krate: syn::Path = model
        .container
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::fly_machines));
    let generator = Gen {
        types: quote!(#krate::types),
        krate: quote!(#krate),
    };

    let static_config = generator.static_config(model);
    let field_statements: Vec<TokenStream> = model
        .fields
        .iter()
        .map(|f| generator.field_statement(f))
        .collect();

    // Bounds for fields whose types involve the struct's type parameters, so that `T` needs no
    // `Display` written on the struct. Concrete types get none: a missing impl is then reported by
    // the code that uses it, at the field's type.
    let params: Vec<&Ident> = model.generics.type_params().map(|p| &p.ident).collect();
    let mut generics = model.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for field in model.fields.iter().filter(|f| mentions_any(&f.ty, &params)) {
            where_clause.predicates.extend(field_bounds(field));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ident = &model.ident;
    let krate = &generator.krate;
    let types = &generator.types;

    quote! {
        #[automatically_derived]
        // Struct literals end in `..Default::default()` even when every field is given, as the
        // macro does not know how many fields the API types have.
        #[allow(clippy::needless_update)]
        impl #impl_generics #krate::MachineConfig for #ident #ty_generics #where_clause {
            fn static_config() -> #types::MachineConfig {
                #static_config
            }

            fn machine_config(&self) -> #types::MachineConfig {
                #[allow(unused_mut)]
                let mut config = <Self as #krate::MachineConfig>::static_config();
                #(#field_statements)*
                config
            }
        }
    }
}

/// The inner type of `Option<T>` (also written `std::option::Option<T>` or
/// `core::option::Option<T>`), recognised by its spelling.
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = path.path.segments.iter().collect();
    let (last, prefix) = segments.split_last()?;
    let prefix_ok = match prefix {
        [] => true,
        [root, module] => (root.ident == "std" || root.ident == "core") && module.ident == "option",
        _ => false,
    };
    if last.ident != "Option" || !prefix_ok {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}

/// Whether `ty` names any of `params`.
fn mentions_any(ty: &Type, params: &[&Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[&Ident]) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => params.iter().any(|p| **p == ident),
            proc_macro2::TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}

/// The bounds a field's type needs for where its value goes, spanned at the type so that a missing
/// `Display` is reported at the field.
fn field_bounds(field: &FieldAttrs) -> Vec<syn::WherePredicate> {
    let ty = option_inner(&field.ty).unwrap_or(&field.ty);
    let span = ty.span();
    let mut bounds = Vec::new();
    if field.image.is_some()
        || field.env.is_some()
        || field.metadata.is_some()
        || field.mount.is_some()
    {
        bounds.push(parse_quote_spanned_bound(
            quote_spanned!(span=> #ty: ::core::fmt::Display),
        ));
    }
    if field.cmd.is_some() || field.entrypoint.is_some() {
        bounds.push(parse_quote_spanned_bound(
            quote_spanned!(span=> for<'__machine> &'__machine #ty: ::core::iter::IntoIterator),
        ));
        bounds.push(parse_quote_spanned_bound(quote_spanned!(span=>
            for<'__machine> <&'__machine #ty as ::core::iter::IntoIterator>::Item:
                ::core::fmt::Display
        )));
    }
    if field.guest.is_some() {
        bounds.push(parse_quote_spanned_bound(
            quote_spanned!(span=> #ty: ::core::clone::Clone),
        ));
    }
    if field.file.is_some() {
        bounds.push(parse_quote_spanned_bound(
            quote_spanned!(span=> #ty: ::core::convert::AsRef<[u8]>),
        ));
    }
    bounds.into_iter().flatten().collect()
}

/// A where-predicate; `None` for a type that cannot be written in one as is (such as a bare
/// `dyn A + B`), which then simply gets no bound.
fn parse_quote_spanned_bound(tokens: TokenStream) -> Option<syn::WherePredicate> {
    syn::parse2(tokens).ok()
}

struct Gen {
    krate: TokenStream,
    types: TokenStream,
}

fn some(value: TokenStream) -> TokenStream {
    quote!(::core::option::Option::Some(#value))
}

fn string(value: &str) -> TokenStream {
    quote!(::std::string::String::from(#value))
}

fn int(value: i64) -> TokenStream {
    let lit = Literal::i64_suffixed(value);
    quote!(#lit)
}

fn boolean(value: bool) -> TokenStream {
    if value { quote!(true) } else { quote!(false) }
}

fn strings(list: &StrList) -> TokenStream {
    let items = list.0.iter().map(|s| string(&s.value));
    quote!(::std::vec::Vec::from([#(#items),*]))
}

fn string_map(entries: &[Entry]) -> TokenStream {
    let pairs = entries.iter().map(|e| {
        let key = string(&e.key);
        let value = string(&e.value);
        quote!((#key, #value))
    });
    quote!(::std::collections::BTreeMap::from([#(#pairs),*]))
}

/// A struct literal of a generated API type: the fields given, the rest left at their defaults
/// (`None`, so they are not sent).
#[derive(Default)]
struct Fields(Vec<(Ident, TokenStream)>);

impl Fields {
    fn set(&mut self, name: &str, value: TokenStream) -> &mut Self {
        self.0.push((format_ident!("{}", name), some(value)));
        self
    }

    fn opt<T>(
        &mut self,
        name: &str,
        value: Option<T>,
        f: impl FnOnce(T) -> TokenStream,
    ) -> &mut Self {
        if let Some(value) = value {
            self.set(name, f(value));
        }
        self
    }

    fn opt_str(&mut self, name: &str, value: &Option<Str>) -> &mut Self {
        self.opt(name, value.as_ref(), |s| string(&s.value))
    }

    fn opt_strings(&mut self, name: &str, value: &Option<StrList>) -> &mut Self {
        self.opt(name, value.as_ref(), strings)
    }

    fn opt_bool(&mut self, name: &str, value: Option<bool>) -> &mut Self {
        self.opt(name, value, boolean)
    }

    fn build(&self, ty: TokenStream) -> TokenStream {
        let names = self.0.iter().map(|(n, _)| n);
        let values = self.0.iter().map(|(_, v)| v);
        quote!(#ty { #(#names: #values,)* ..::core::default::Default::default() })
    }
}

impl Gen {
    fn static_config(&self, model: &Model) -> TokenStream {
        let c = &model.container;
        let types = &self.types;
        let mut config = Fields::default();

        config.opt("image", c.image.as_ref(), |image| string(&image.0.value));
        config.opt("guest", c.guest.as_ref(), |guest| {
            let resolved = &guest.resolved;
            let mut fields = Fields::default();
            fields
                .opt("cpu_kind", resolved.cpu_kind, string)
                .opt("cpus", resolved.cpus, int)
                .opt("memory_mb", resolved.memory_mb, int)
                .opt_str("gpu_kind", &guest.gpu_kind)
                .opt("gpus", guest.gpus, |g| int(g.0.value))
                .opt_strings("kernel_args", &guest.kernel_args);
            fields.build(quote!(#types::MachineGuest))
        });
        config.opt_bool("auto_destroy", c.auto_destroy);
        config.opt("restart", c.restart.as_ref(), |restart| {
            let mut fields = Fields::default();
            fields
                .opt("policy", restart.policy.as_ref(), |p| string(p.value))
                .opt("max_retries", restart.max_retries, |m| int(m.value))
                .opt("gpu_bid_price", restart.gpu_bid_price, |p| {
                    let lit = Literal::f64_suffixed(p.value);
                    quote!(#lit)
                });
            fields.build(quote!(#types::MachineRestart))
        });
        if !c.services.is_empty() {
            let services = c.services.iter().map(|s| self.service(s));
            config.set("services", quote!(::std::vec::Vec::from([#(#services),*])));
        }
        if !c.checks.is_empty() {
            let checks = c.checks.iter().map(|check| {
                let name = string(&check.name.value);
                let mut fields = self.check_common(&check.common);
                fields.opt("kind", check.role.as_ref(), |r| string(r.value));
                let value = fields.build(quote!(#types::MachineCheck));
                quote!((#name, #value))
            });
            config.set(
                "checks",
                quote!(::std::collections::BTreeMap::from([#(#checks),*])),
            );
        }
        if !c.mounts.is_empty() {
            let mounts = c.mounts.iter().map(|m| {
                let mut fields = Fields::default();
                fields
                    .set("volume", string(&m.volume.value))
                    .set("path", string(&m.path.0.value))
                    .opt_str("name", &m.name)
                    .opt("size_gb", m.size_gb, |v| int(v.value))
                    .opt_bool("encrypted", m.encrypted)
                    .opt(
                        "extend_threshold_percent",
                        m.extend_threshold_percent,
                        |v| int(v.value),
                    )
                    .opt("add_size_gb", m.add_size_gb, |v| int(v.value))
                    .opt("add_size_percent", m.add_size_percent, |v| int(v.value))
                    .opt("min_add_size_gb", m.min_add_size_gb, |v| int(v.value))
                    .opt("size_gb_limit", m.size_gb_limit, |v| int(v.value));
                fields.build(quote!(#types::MachineMount))
            });
            config.set("mounts", quote!(::std::vec::Vec::from([#(#mounts),*])));
        }
        config.opt("stop_config", c.stop.as_ref(), |stop| {
            let mut fields = Fields::default();
            fields
                .opt("signal", stop.signal.as_ref(), |s| string(s.value))
                .opt("timeout", stop.timeout.as_ref(), |t| string(&t.0.value));
            fields.build(quote!(#types::StopConfig))
        });
        config.opt("init", c.init.as_ref(), |init| {
            let mut fields = Fields::default();
            fields
                .opt_strings("cmd", &init.cmd)
                .opt_strings("entrypoint", &init.entrypoint)
                .opt_strings("exec", &init.exec)
                .opt_strings("kernel_args", &init.kernel_args)
                .opt_bool("tty", init.tty)
                .opt("swap_size_mb", init.swap_size_mb, |v| int(v.0.value));
            fields.build(quote!(#types::MachineInit))
        });
        if !c.metadata.is_empty() {
            config.set("metadata", string_map(&c.metadata));
        }
        if !c.env.is_empty() {
            config.set("env", string_map(&c.env));
        }
        config.opt("schedule", c.schedule.as_ref(), |s| string(s.value));
        config.opt("dns", c.dns.as_ref(), |dns| {
            let mut fields = Fields::default();
            fields
                .opt_str("hostname", &dns.hostname)
                .opt_str("hostname_fqdn", &dns.hostname_fqdn)
                .opt_strings("nameservers", &dns.nameservers)
                .opt_strings("searches", &dns.searches)
                .opt_bool("skip_registration", dns.skip_registration);
            fields.build(quote!(#types::DnsConfig))
        });
        if !c.files.is_empty() {
            let files = c.files.iter().map(|file| {
                let mut fields = Fields::default();
                fields
                    .set("guest_path", string(&file.guest_path.0.value))
                    .opt("raw_value", file.contents.as_ref(), |s| {
                        string(&rules::encode_base64(s.value.as_bytes()))
                    })
                    .opt_str("secret_name", &file.secret_name)
                    .opt("mode", file.mode, |m| int(m.0.value));
                fields.build(quote!(#types::File))
            });
            config.set("files", quote!(::std::vec::Vec::from([#(#files),*])));
        }
        if !c.processes.is_empty() {
            let processes = c.processes.iter().map(|p| {
                let env: Vec<Entry> = p.env.iter().flat_map(|m| m.entries.clone()).collect();
                let mut fields = Fields::default();
                fields
                    .opt_strings("cmd", &p.cmd)
                    .opt_strings("entrypoint", &p.entrypoint)
                    .opt_strings("exec", &p.exec)
                    .opt_str("user", &p.user)
                    .opt("env", (!env.is_empty()).then_some(&env), |env| {
                        string_map(env)
                    })
                    .opt_bool("ignore_app_secrets", p.ignore_app_secrets);
                fields.build(quote!(#types::MachineProcess))
            });
            config.set(
                "processes",
                quote!(::std::vec::Vec::from([#(#processes),*])),
            );
        }
        config.opt("metrics", c.metrics.as_ref(), |m| {
            let mut fields = Fields::default();
            fields
                .set("port", int(m.port.0.value))
                .set("path", string(&m.path.value))
                .opt_bool("https", m.https);
            fields.build(quote!(#types::MachineMetrics))
        });

        config.opt("spot", c.spot.as_ref(), |spot| {
            let fraction = Literal::f64_suffixed(spot.max_price_fraction.0);
            let mut fields = Fields::default();
            fields.set("max_price_fraction", quote!(#fraction));
            fields.build(quote!(#types::MachineSpot))
        });

        config.build(quote!(#types::MachineConfig))
    }

    fn service(&self, service: &ServiceAttr) -> TokenStream {
        let types = &self.types;
        let mut fields = Fields::default();
        let protocol = service.protocol.as_ref().map_or("tcp", |p| p.value);
        fields
            .set("protocol", string(protocol))
            .set("internal_port", int(service.internal_port.0.value))
            .opt("autostop", service.autostop.as_ref(), |a| match a {
                Autostop::Bool(b) => {
                    let b = boolean(*b);
                    quote!(#types::MachineServiceAutostop::Boolean(#b))
                }
                Autostop::Word(w) => {
                    let w = string(w);
                    quote!(#types::MachineServiceAutostop::String(#w))
                }
            })
            .opt_bool("autostart", service.autostart)
            .opt("min_machines_running", service.min_machines_running, |v| {
                int(v.0.value)
            });
        if !service.ports.is_empty() {
            let ports = service.ports.iter().map(|p| self.port(p));
            fields.set("ports", quote!(::std::vec::Vec::from([#(#ports),*])));
        }
        fields.opt("concurrency", service.concurrency.as_ref(), |c| {
            let mut fields = Fields::default();
            fields
                .opt("type_", c.kind.as_ref(), |k| string(k.value))
                .opt("soft_limit", c.soft_limit, |v| int(v.0.value))
                .opt("hard_limit", c.hard_limit, |v| int(v.0.value));
            fields.build(quote!(#types::MachineServiceConcurrency))
        });
        if !service.checks.is_empty() {
            let checks = service.checks.iter().map(|check| {
                self.check_common(&check.common)
                    .build(quote!(#types::MachineServiceCheck))
            });
            fields.set("checks", quote!(::std::vec::Vec::from([#(#checks),*])));
        }
        fields.build(quote!(#types::MachineService))
    }

    fn port(&self, port: &PortAttr) -> TokenStream {
        let types = &self.types;
        let mut fields = Fields::default();
        fields
            .opt("port", port.port, |p| int(p.0.value))
            .opt("start_port", port.start_port, |p| int(p.0.value))
            .opt("end_port", port.end_port, |p| int(p.0.value))
            .opt("handlers", port.handlers.as_ref(), |h| {
                let items = h.0.iter().map(|s| string(s));
                quote!(::std::vec::Vec::from([#(#items),*]))
            })
            .opt_bool("force_https", port.force_https);
        fields.build(quote!(#types::MachinePort))
    }

    fn check_common(&self, check: &CheckCommon) -> Fields {
        let mut fields = Fields::default();
        fields
            .set("type_", string(check.kind.value))
            .opt("port", check.port, |p| int(p.0.value))
            .opt_str("path", &check.path)
            .opt_str("method", &check.method)
            .opt("protocol", check.protocol.as_ref(), |p| string(p.value))
            .opt("interval", check.interval.as_ref(), |d| string(&d.0.value))
            .opt("timeout", check.timeout.as_ref(), |d| string(&d.0.value))
            .opt("grace_period", check.grace_period.as_ref(), |d| {
                string(&d.0.value)
            })
            .opt_str("tls_server_name", &check.tls_server_name)
            .opt_bool("tls_skip_verify", check.tls_skip_verify);
        fields
    }

    /// The statements that put one field's value into `config`.
    fn field_statement(&self, field: &FieldAttrs) -> TokenStream {
        let krate = &self.krate;
        let ident = &field.ident;
        let (is_option, ty) = match option_inner(&field.ty) {
            Some(inner) => (true, inner),
            None => (false, &field.ty),
        };
        let span = ty.span();
        // Spanned at the field's type, so that a type error in the use of the value (say, no
        // `Display`) points at the field rather than at the derive.
        let value = quote_spanned!(span=> __machine_value);

        let mut body = Vec::new();
        if field.image.is_some() {
            body.push(quote_spanned! {span=>
                config.image = ::core::option::Option::Some(
                    ::std::string::ToString::to_string(#value),
                );
            });
        }
        if field.guest.is_some() {
            let types = &self.types;
            body.push(quote_spanned! {span=>
                config.guest = ::core::option::Option::Some(
                    <#types::MachineGuest as ::core::convert::From<_>>::from(
                        ::core::clone::Clone::clone(#value),
                    ),
                );
            });
        }
        if let Some((name, _)) = &field.env {
            let name = string(name);
            body.push(quote_spanned! {span=>
                config
                    .env
                    .get_or_insert_with(::core::default::Default::default)
                    .insert(#name, ::std::string::ToString::to_string(#value));
            });
        }
        if let Some((key, _)) = &field.metadata {
            let key = string(key);
            body.push(quote_spanned! {span=>
                config
                    .metadata
                    .get_or_insert_with(::core::default::Default::default)
                    .insert(#key, ::std::string::ToString::to_string(#value));
            });
        }
        for (target, present) in [
            ("cmd", field.cmd.is_some()),
            ("entrypoint", field.entrypoint.is_some()),
        ] {
            if !present {
                continue;
            }
            let target = format_ident!("{}", target);
            body.push(quote_spanned! {span=>
                config
                    .init
                    .get_or_insert_with(::core::default::Default::default)
                    .#target = ::core::option::Option::Some(
                        ::core::iter::Iterator::collect(::core::iter::Iterator::map(
                            ::core::iter::IntoIterator::into_iter(#value),
                            |item| ::std::string::ToString::to_string(&item),
                        )),
                    );
            });
        }
        if let Some(path) = &field.file {
            let path = string(&path.0.value);
            let types = &self.types;
            body.push(quote_spanned! {span=>
                config
                    .files
                    .get_or_insert_with(::core::default::Default::default)
                    .push(#types::File {
                        guest_path: ::core::option::Option::Some(#path),
                        raw_value: ::core::option::Option::Some(
                            #krate::guest::rules::encode_base64(
                                ::core::convert::AsRef::<[u8]>::as_ref(#value),
                            ),
                        ),
                        ..::core::default::Default::default()
                    });
            });
        }

        if let Some(path) = &field.mount {
            let path = string(&path.0.value);
            let types = &self.types;
            body.push(quote_spanned! {span=>
                config
                    .mounts
                    .get_or_insert_with(::core::default::Default::default)
                    .push(#types::MachineMount {
                        volume: ::core::option::Option::Some(
                            ::std::string::ToString::to_string(#value),
                        ),
                        path: ::core::option::Option::Some(#path),
                        ..::core::default::Default::default()
                    });
            });
        }

        if is_option {
            quote! {
                if let ::core::option::Option::Some(#value) = &self.#ident {
                    #(#body)*
                }
            }
        } else {
            quote! {
                {
                    let #value = &self.#ident;
                    #(#body)*
                }
            }
        }
    }
}
