//! `cargo xtask spec-diff`: what differs between our document and an upstream one.
//!
//! Both documents are flattened into comparable facts (operations, parameters and response
//! headers, bodies, security, schemas, properties, enum values). Differences covered by an entry
//! of [`crate::corrections`] are counted as explained; anything else is printed and makes the
//! task fail.
//!
//! OpenAPI 3.0 and 3.1 read the same: a 3.1 type array (`["integer","null"]`) is the 3.0
//! `type: integer, nullable: true`, a `{"type":"null"}` branch of `oneOf`/`anyOf` is nullability,
//! security is compared as each operation's effective requirement (its own, else the
//! document's), by scheme kind rather than scheme name, and examples (`example`, `examples`) are
//! documentation, never facts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::corrections::{self, Correction};
use crate::spec;

/// The groups the report is organised by, in print order.
pub const GROUPS: [&str; 7] = [
    "operations",
    "bodies",
    "parameters",
    "security",
    "schemas",
    "properties",
    "enum values",
];

/// The steps of the upgrade checklist the unexplained differences are printed as, in order.
pub const CHECKLIST: [&str; 8] = [
    "new operations",
    "new parameters and bodies",
    "new schemas",
    "new properties",
    "new enum values",
    "changed",
    "removed upstream (still in ours)",
    "enum values removed upstream (still in ours)",
];

/// Which checklist step a difference belongs to. `removed` in a detail means upstream has the
/// fact and we do not (new upstream); `added` means only we have it.
pub fn checklist_step(d: &Difference) -> &'static str {
    let only_upstream = d.detail.starts_with("removed");
    let only_ours = d.detail.starts_with("added");
    match (d.group, only_upstream, only_ours) {
        ("operations", true, _) => CHECKLIST[0],
        ("parameters" | "bodies", true, _) => CHECKLIST[1],
        ("schemas", true, _) => CHECKLIST[2],
        ("properties", true, _) => CHECKLIST[3],
        ("enum values", true, _) => CHECKLIST[4],
        ("enum values", _, true) => CHECKLIST[7],
        (_, _, true) => CHECKLIST[6],
        _ => CHECKLIST[5],
    }
}

/// One difference between the two documents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub group: &'static str,
    pub subject: String,
    pub detail: String,
}

/// Runs the task; `Ok(false)` when some difference is not explained by a correction.
pub fn run(ours: &Path, upstream: &Path, verbose: bool) -> Result<bool, String> {
    let ours_doc = spec::read_json(ours)?;
    let upstream_doc = spec::read_json(upstream)?;
    for (doc, path) in [(&ours_doc, ours), (&upstream_doc, upstream)] {
        if doc.get("paths").and_then(Value::as_object).is_none() {
            return Err(format!(
                "{}: no `paths` object; is this an OpenAPI document?",
                path.display()
            ));
        }
    }
    let differences = compare(&ours_doc, &upstream_doc);
    let report = Report::new(&differences, corrections::CORRECTIONS);
    print!("{}", report.render(ours, upstream, verbose));
    print!("{}", same_shape_hints(&ours_doc, &upstream_doc));
    print!("{}", left_out());
    print!("{}", Coverage::of(&ours_doc, &upstream_doc).render());
    Ok(report.unexplained.is_empty())
}

/// The values of real documents our document leaves out on purpose, with the reasons.
fn left_out() -> String {
    let mut out = String::from("\nleft out of our document on purpose:\n");
    for (place, why) in corrections::LEFT_OUT {
        out += &format!("  {place}: {why}\n");
    }
    out
}

/// How much of the upstream document ours covers: facts present in both, out of upstream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// Upstream operations (method and wire path) that ours also has, and how many upstream has.
    pub operations: (usize, usize),
    /// Upstream parameters that ours also declares.
    pub parameters: (usize, usize),
    /// Upstream schemas (under our names) that ours also has.
    pub schemas: (usize, usize),
    /// Upstream schema properties that ours also has.
    pub properties: (usize, usize),
    /// Upstream enum values that ours also lists (closed or open).
    pub enum_values: (usize, usize),
}

impl Coverage {
    /// Counts what of `upstream` is in `ours`, after the same normalisation as [`compare`].
    pub fn of(ours: &Value, upstream: &Value) -> Coverage {
        let shown_base = server_base_path(ours);
        let ours = Facts::of(ours, false, &shown_base);
        let upstream = Facts::of(upstream, true, &shown_base);
        let covered = |ours: &BTreeMap<String, String>, up: &BTreeMap<String, String>| {
            (
                up.keys().filter(|k| ours.contains_key(*k)).count(),
                up.len(),
            )
        };
        let empty = BTreeSet::new();
        let enum_values = upstream
            .enums
            .iter()
            .map(|(subject, values)| {
                let ours = ours.enums.get(subject).unwrap_or(&empty);
                (values.intersection(ours).count(), values.len())
            })
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        Coverage {
            operations: covered(&ours.operations, &upstream.operations),
            parameters: covered(&ours.parameters, &upstream.parameters),
            schemas: covered(&ours.schemas, &upstream.schemas),
            properties: covered(&ours.properties, &upstream.properties),
            enum_values,
        }
    }

    /// One line per kind of fact, e.g. `operations     76/100  (76.0%)`.
    pub fn render(&self) -> String {
        let mut out = String::from("\ncoverage of the upstream document (covered/upstream):\n");
        for (name, (have, of)) in [
            ("operations", self.operations),
            ("parameters", self.parameters),
            ("schemas", self.schemas),
            ("properties", self.properties),
            ("enum values", self.enum_values),
        ] {
            let percent = if of == 0 {
                100.0
            } else {
                have as f64 * 100.0 / of as f64
            };
            out += &format!("  {name:<12} {have:>4}/{of:<4} ({percent:.1}%)\n");
        }
        out
    }
}

/// Upstream schemas whose properties are exactly those of one of ours under another name, where
/// upstream has no schema of that other name: most likely a rename (Fly's
/// `CreateAppDeployTokenResponse` is what its older document called `CreateAppResponse`), worth
/// checking before adding a twin.
pub fn same_shape_hints(ours: &Value, upstream: &Value) -> String {
    let shapes = |doc: &Value, rename: bool| -> BTreeMap<String, BTreeSet<String>> {
        doc.pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, schema)| {
                let props = schema.get("properties")?.as_object()?;
                let name = if rename {
                    corrections::our_schema_name(name)
                } else {
                    name.clone()
                };
                Some((name, props.keys().cloned().collect()))
            })
            .collect()
    };
    let (ours, upstream) = (shapes(ours, false), shapes(upstream, true));
    let mut out = String::new();
    for (name, props) in &upstream {
        if ours.get(name) == Some(props) {
            continue;
        }
        for (our_name, our_props) in &ours {
            if our_name != name && our_props == props && !upstream.contains_key(our_name) {
                out += &format!(
                    "  upstream `{name}` has exactly the properties of our `{our_name}`: a rename?\n"
                );
            }
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("\nschemas that may have been renamed:\n{out}")
    }
}

/// Differences sorted into those a correction explains and the rest.
pub struct Report<'a> {
    pub explained: BTreeMap<usize, Vec<&'a Difference>>,
    pub unexplained: Vec<&'a Difference>,
    corrections: &'a [Correction],
}

impl<'a> Report<'a> {
    pub fn new(differences: &'a [Difference], corrections: &'a [Correction]) -> Self {
        let mut explained: BTreeMap<usize, Vec<&Difference>> = BTreeMap::new();
        let mut unexplained = Vec::new();
        for d in differences {
            match corrections.iter().position(|c| c.explains(d)) {
                Some(i) => explained.entry(i).or_default().push(d),
                None => unexplained.push(d),
            }
        }
        Report {
            explained,
            unexplained,
            corrections,
        }
    }

    fn render(&self, ours: &Path, upstream: &Path, verbose: bool) -> String {
        let mut out = format!(
            "spec-diff: {} against {}\n\n",
            ours.display(),
            upstream.display()
        );
        for group in GROUPS {
            let open = self.unexplained.iter().filter(|d| d.group == group).count();
            let known: usize = self
                .explained
                .values()
                .flatten()
                .filter(|d| d.group == group)
                .count();
            out += &format!("{group:<12} {open:>4} unexplained {known:>5} explained\n");
        }
        if !self.unexplained.is_empty() {
            out += &format!(
                "\nunexplained differences ({}), as an upgrade checklist:\n",
                self.unexplained.len()
            );
            for step in CHECKLIST {
                let items: Vec<&&Difference> = self
                    .unexplained
                    .iter()
                    .filter(|d| checklist_step(d) == step)
                    .collect();
                if items.is_empty() {
                    continue;
                }
                out += &format!("\n  {step} ({}):\n", items.len());
                for d in items {
                    out += &format!("    [ ] [{}] {}: {}\n", d.group, d.subject, d.detail);
                }
            }
        }
        out += "\nexplained by our corrections:\n";
        for (i, diffs) in &self.explained {
            let c = &self.corrections[*i];
            out += &format!("  {:>4} × {}: {}\n", diffs.len(), c.name, c.reason);
            if verbose {
                for d in diffs {
                    out += &format!("         [{}] {}: {}\n", d.group, d.subject, d.detail);
                }
            }
        }
        if self.unexplained.is_empty() {
            out += "\nno unexplained difference\n";
        }
        out
    }
}

/// Flattens both documents and lists every fact that is not the same in both.
pub fn compare(ours: &Value, upstream: &Value) -> Vec<Difference> {
    let shown_base = server_base_path(ours);
    let ours = Facts::of(ours, false, &shown_base);
    let upstream = Facts::of(upstream, true, &shown_base);
    let mut out = Vec::new();
    for (group, a, b) in [
        ("operations", &ours.operations, &upstream.operations),
        ("bodies", &ours.bodies, &upstream.bodies),
        ("parameters", &ours.parameters, &upstream.parameters),
        ("security", &ours.security, &upstream.security),
        ("schemas", &ours.schemas, &upstream.schemas),
        ("properties", &ours.properties, &upstream.properties),
    ] {
        for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
            let detail = match (b.get(key), a.get(key)) {
                (Some(up), Some(us)) if up == us => continue,
                (Some(up), Some(us)) => format!("{up} -> {us}"),
                (None, Some(us)) => format!("added ({us})"),
                (Some(up), None) => format!("removed ({up})"),
                (None, None) => continue,
            };
            out.push(Difference {
                group,
                subject: key.clone(),
                detail,
            });
        }
    }
    for key in ours
        .enums
        .keys()
        .chain(upstream.enums.keys())
        .collect::<BTreeSet<_>>()
    {
        let empty = BTreeSet::new();
        let us = ours.enums.get(key).unwrap_or(&empty);
        let up = upstream.enums.get(key).unwrap_or(&empty);
        for v in up.difference(us) {
            out.push(Difference {
                group: "enum values",
                subject: key.clone(),
                detail: format!("removed {v:?}"),
            });
        }
        for v in us.difference(up) {
            out.push(Difference {
                group: "enum values",
                subject: key.clone(),
                detail: format!("added {v:?}"),
            });
        }
    }
    out.sort();
    out
}

/// The path part of a document's first server URL, without a trailing `/` (`/v1` for
/// `https://api.machines.dev/v1`, empty for `https://api.machines.dev`).
pub fn server_base_path(doc: &Value) -> String {
    let url = doc
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .unwrap_or("");
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.trim_end_matches('/').to_string()
}

/// The URL path a request for `path` really goes to (`base` + `path`), shown relative to
/// `shown_base` (our document's server path) so that a document with `/v1` on every path and one
/// with `/v1` in `servers` name the same endpoint the same way.
pub fn wire_path(base: &str, path: &str, shown_base: &str) -> String {
    let full = format!("{base}{path}");
    match full.strip_prefix(shown_base) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => full,
    }
}

/// The comparable facts of one document, each keyed by a readable subject.
#[derive(Default)]
struct Facts {
    operations: BTreeMap<String, String>,
    bodies: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
    security: BTreeMap<String, String>,
    schemas: BTreeMap<String, String>,
    properties: BTreeMap<String, String>,
    enums: BTreeMap<String, BTreeSet<String>>,
}

impl Facts {
    fn of(doc: &Value, rename: bool, shown_base: &str) -> Facts {
        let namer = Namer { rename };
        let mut facts = Facts::default();
        let empty = serde_json::Map::new();
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let base = server_base_path(doc);
        for (path, item) in paths {
            let path = wire_path(&base, path, shown_base);
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else { continue };
                let key = format!("{} {path}", method.to_uppercase());
                let id = op.get("operationId").and_then(Value::as_str).unwrap_or("?");
                facts
                    .operations
                    .insert(key.clone(), format!("operationId {id}"));
                facts
                    .security
                    .insert(key.clone(), security_of(doc, op.get("security")));
                for p in op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
                    let place = p.get("in").and_then(Value::as_str).unwrap_or("?");
                    let subject = format!("{key} {place}:{name}");
                    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                    let schema = p.get("schema").unwrap_or(&Value::Null);
                    let sig = namer.signature(schema);
                    let sig = if required {
                        format!("{sig}, required")
                    } else {
                        sig
                    };
                    facts.parameters.insert(subject.clone(), sig);
                    facts.add_enum(&subject, schema);
                }
                if let Some(body) = op.get("requestBody") {
                    let required = body
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let sig = namer.content(body.get("content"));
                    let sig = if required {
                        format!("{sig}, required")
                    } else {
                        sig
                    };
                    facts.bodies.insert(format!("{key} request"), sig);
                }
                let responses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                for (code, response) in responses {
                    let response =
                        crate::statuses::resolve_response(doc, response).unwrap_or(response);
                    facts.bodies.insert(
                        format!("{key} response {code}"),
                        namer.content(response.get("content")),
                    );
                    for (name, header) in response
                        .get("headers")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        // Header names are case-insensitive on the wire.
                        let subject =
                            format!("{key} response {code} header:{}", name.to_lowercase());
                        let schema = header.get("schema").unwrap_or(&Value::Null);
                        facts
                            .parameters
                            .insert(subject.clone(), namer.signature(schema));
                        facts.add_enum(&subject, schema);
                    }
                }
            }
        }
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, schema) in schemas {
            let name = namer.name(name);
            let props = schema.get("properties").and_then(Value::as_object);
            let kind = if props.is_some() {
                "object".to_string()
            } else {
                namer.signature(schema)
            };
            let required: BTreeSet<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            facts.schemas.insert(name.clone(), kind);
            facts.add_enum(&name, schema);
            for (prop, p) in props.into_iter().flatten() {
                let subject = format!("{name}.{prop}");
                let sig = namer.signature(p);
                let sig = if required.contains(prop.as_str()) {
                    format!("{sig}, required")
                } else {
                    sig
                };
                facts.properties.insert(subject.clone(), sig);
                facts.add_enum(&subject, p);
            }
        }
        facts
    }

    /// Enum values, closed (`enum`) or open (`x-known-values`), wherever they sit in `schema`.
    fn add_enum(&mut self, subject: &str, schema: &Value) {
        let mut values = BTreeSet::new();
        collect_enum_values(schema, &mut values);
        if !values.is_empty() {
            self.enums.insert(subject.to_string(), values);
        }
    }
}

fn collect_enum_values(schema: &Value, into: &mut BTreeSet<String>) {
    for key in ["enum", "x-known-values"] {
        for v in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            into.insert(v.to_string());
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if s.get("$ref").is_none() {
                collect_enum_values(s, into);
            }
        }
    }
}

/// Writes schema shapes as short strings, applying our naming rule to upstream names.
struct Namer {
    rename: bool,
}

impl Namer {
    fn name(&self, name: &str) -> String {
        if self.rename {
            corrections::our_schema_name(name)
        } else {
            name.to_string()
        }
    }

    fn content(&self, content: Option<&Value>) -> String {
        let Some(map) = content.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
            return "no body".into();
        };
        map.iter()
            .map(|(media, m)| {
                format!(
                    "{media} {}",
                    self.signature(m.get("schema").unwrap_or(&Value::Null))
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    fn signature(&self, schema: &Value) -> String {
        let nullable = schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || type_names(schema).contains(&"null");
        let base = match without_null_branch(schema) {
            Some(only) => return format!("{}?", self.base_signature(only).trim_end_matches('?')),
            None => self.base_signature(schema),
        };
        if nullable { format!("{base}?") } else { base }
    }

    fn base_signature(&self, schema: &Value) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return self.name(r.rsplit('/').next().unwrap_or(r));
        }
        if let Some([single]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return self.base_signature(single);
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let parts: Vec<String> = options.iter().map(|s| self.signature(s)).collect();
            return format!("oneOf({})", parts.join("|"));
        }
        let types: Vec<&str> = type_names(schema)
            .into_iter()
            .filter(|t| *t != "null")
            .collect();
        let ty = match types.as_slice() {
            [] => "any",
            [one] => one,
            several => return format!("oneOf({})", several.join("|")),
        };
        match ty {
            "array" => format!(
                "array<{}>",
                self.signature(schema.get("items").unwrap_or(&Value::Null))
            ),
            "object" => match schema.get("additionalProperties") {
                Some(Value::Bool(true)) => "map<any>".into(),
                Some(Value::Object(o)) if o.is_empty() => "map<any>".into(),
                Some(v @ Value::Object(_)) => format!("map<{}>", self.signature(v)),
                _ => "object".into(),
            },
            other => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("{other}({format})"),
                None => other.to_string(),
            },
        }
    }
}

/// The names in a schema's `type`: one string in OpenAPI 3.0, a string or an array in 3.1.
fn type_names(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The one other branch of a `oneOf`/`anyOf` of two whose second is `{"type": "null"}`: the 3.1
/// spelling of a nullable reference.
fn without_null_branch(schema: &Value) -> Option<&Value> {
    ["oneOf", "anyOf"].iter().find_map(|key| {
        let branches = schema.get(*key)?.as_array()?;
        let (nulls, others): (Vec<&Value>, Vec<&Value>) = branches
            .iter()
            .partition(|b| type_names(b) == ["null"] && b.get("$ref").is_none());
        match (nulls.as_slice(), others.as_slice()) {
            ([_], [only]) => Some(*only),
            _ => None,
        }
    })
}

/// An operation's effective security, by scheme kind: its own `security` when it has one
/// (`[]` = no token needed), else the document's; `none` where neither says anything.
fn security_of(doc: &Value, own: Option<&Value>) -> String {
    let Some(requirements) = own
        .or_else(|| doc.get("security"))
        .and_then(Value::as_array)
    else {
        return "none".into();
    };
    let mut kinds = BTreeSet::new();
    for requirement in requirements {
        let names: Vec<&String> = requirement
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        if names.is_empty() {
            kinds.insert("optional".to_string());
        }
        for name in names {
            let scheme = doc
                .pointer(&format!("/components/securitySchemes/{name}"))
                .unwrap_or(&Value::Null);
            kinds.insert(scheme_kind(scheme));
        }
    }
    if kinds.is_empty() {
        "none".into()
    } else {
        kinds.into_iter().collect::<Vec<_>>().join(" or ")
    }
}

/// `bearer` for an HTTP bearer scheme (Fly's `Authorization: Bearer ...`); other kinds by type,
/// place and name.
fn scheme_kind(scheme: &Value) -> String {
    let field = |k: &str| scheme.get(k).and_then(Value::as_str).unwrap_or("");
    match field("type") {
        "http" => field("scheme").to_lowercase(),
        "apiKey" => format!("apiKey({} {})", field("in"), field("name")),
        "" => "unknown scheme".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Value {
        spec::read_json(&crate::workspace_root().join(spec::SPEC_PATH)).unwrap()
    }

    fn unexplained(upstream: &Value) -> Vec<Difference> {
        let diffs = compare(&ours(), upstream);
        let report = Report::new(&diffs, corrections::CORRECTIONS);
        report.unexplained.into_iter().cloned().collect()
    }

    #[test]
    fn a_document_equals_itself() {
        assert!(compare(&ours(), &ours()).is_empty());
    }

    #[test]
    fn new_upstream_facts_are_reported() {
        let mut up = ours();
        let signal =
            &mut up["components"]["schemas"]["StopRequest"]["properties"]["signal"]["enum"];
        signal.as_array_mut().unwrap().push("SIGNEW".into());
        up["components"]["schemas"]["Machine"]["properties"]["shiny"] =
            serde_json::json!({"type": "integer"});
        up["paths"]["/apps"]["get"]["parameters"][1]["schema"] =
            serde_json::json!({"type": "integer"});
        let found = unexplained(&up);
        let subjects: Vec<_> = found
            .iter()
            .map(|d| (d.group, d.subject.as_str()))
            .collect();
        assert!(
            subjects.contains(&("enum values", "StopRequest.signal")),
            "{found:?}"
        );
        assert!(
            subjects.contains(&("properties", "Machine.shiny")),
            "{found:?}"
        );
        assert!(
            subjects.contains(&("parameters", "GET /apps query:app_role")),
            "{found:?}"
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn openapi_3_1_spellings_equal_3_0_ones() {
        let mut up = ours();
        up["openapi"] = "3.1.0".into();
        let schemas = up["components"]["schemas"].as_object_mut().unwrap();
        let props = schemas["PostgresCluster"]["properties"]
            .as_object_mut()
            .unwrap();
        let bytes = props["storage_used_bytes"].as_object_mut().unwrap();
        assert_eq!(bytes.remove("nullable"), Some(Value::Bool(true)));
        bytes.insert("type".into(), serde_json::json!(["integer", "null"]));
        bytes.insert("examples".into(), serde_json::json!([1024, null]));
        let machine = schemas["Machine"]["properties"].as_object_mut().unwrap();
        let events = machine["events"].clone();
        assert_eq!(events["nullable"], Value::Bool(true));
        let mut not_null = events.clone();
        not_null.as_object_mut().unwrap().remove("nullable");
        machine.insert(
            "events".into(),
            serde_json::json!({"anyOf": [not_null, {"type": "null"}]}),
        );
        // Security once for the document instead of on every operation.
        up["security"] = serde_json::json!([{"bearer": []}]);
        for item in up["paths"].as_object_mut().unwrap().values_mut() {
            for op in item.as_object_mut().unwrap().values_mut() {
                if let Some(op) = op.as_object_mut()
                    && op.get("security") == Some(&serde_json::json!([{"bearer": []}]))
                {
                    op.remove("security");
                }
            }
        }
        assert_eq!(unexplained(&up), Vec::new());
    }

    #[test]
    fn security_and_response_headers_are_compared() {
        let mut up = ours();
        up["paths"]["/apps"]["get"]["security"] = serde_json::json!([]);
        up["paths"]["/apps"]["get"]["responses"]["200"]["headers"] =
            serde_json::json!({"Fly-Total": {"schema": {"type": "integer"}}});
        let found = unexplained(&up);
        let subjects: Vec<_> = found
            .iter()
            .map(|d| (d.group, d.subject.as_str(), d.detail.as_str()))
            .collect();
        assert!(
            subjects.contains(&("security", "GET /apps", "none -> bearer")),
            "{found:?}"
        );
        assert!(
            subjects.contains(&(
                "parameters",
                "GET /apps response 200 header:fly-total",
                "removed (integer)"
            )),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn upstream_go_names_are_mapped_to_ours() {
        let mut up = ours();
        let schemas = up["components"]["schemas"].as_object_mut().unwrap();
        let config = schemas.remove("MachineConfig").unwrap();
        schemas.insert("fly.MachineConfig".into(), config);
        assert!(
            unexplained(&up)
                .iter()
                .all(|d| !d.subject.starts_with("MachineConfig"))
        );
    }
}
