//! The fixed tables behind Managed Postgres: plans, the regions that offer it, the extension
//! catalogue, reserved names, and the rules names must follow.

/// One plan: the size of every node of a cluster on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The slug as Fly's enum spells it.
    pub(crate) slug: &'static str,
    pub(crate) cpu_kind: &'static str,
    pub(crate) cpus: i64,
    pub(crate) memory_mb: i64,
    pub(crate) replicas: i64,
}

/// The plans, smallest first (sizes are the emulator's, plausible rather than Fly's price list).
pub(crate) const PLANS: &[Plan] = &[
    Plan {
        slug: "basic",
        cpu_kind: "shared",
        cpus: 2,
        memory_mb: 1024,
        replicas: 1,
    },
    Plan {
        slug: "starter",
        cpu_kind: "shared",
        cpus: 2,
        memory_mb: 2048,
        replicas: 1,
    },
    Plan {
        slug: "launch",
        cpu_kind: "performance",
        cpus: 2,
        memory_mb: 8192,
        replicas: 2,
    },
    Plan {
        slug: "scale",
        cpu_kind: "performance",
        cpus: 4,
        memory_mb: 32768,
        replicas: 2,
    },
    Plan {
        slug: "Performance",
        cpu_kind: "performance",
        cpus: 8,
        memory_mb: 65536,
        replicas: 2,
    },
];

/// The plan a slug names, compared without regard to case as Fly does.
pub(crate) fn plan(slug: &str) -> Option<&'static Plan> {
    PLANS.iter().find(|p| p.slug.eq_ignore_ascii_case(slug))
}

/// The plan slugs, for error messages.
pub(crate) fn plan_slugs() -> String {
    PLANS.iter().map(|p| p.slug).collect::<Vec<_>>().join(", ")
}

/// Regions where clusters can run (a subset of the platform's regions).
pub(crate) const MPG_REGIONS: &[&str] = &[
    "ams", "fra", "iad", "lax", "lhr", "nrt", "ord", "sin", "sjc", "syd", "yyz",
];

/// Whether Managed Postgres runs in `region`.
pub(crate) fn offers_postgres(region: &str) -> bool {
    MPG_REGIONS.contains(&region)
}

/// Postgres major versions on offer; the last one is the default.
pub(crate) const PG_MAJOR_VERSIONS: &[&str] = &["16", "17"];

/// Connection pooler modes.
pub(crate) const POOL_MODES: &[&str] = &["session", "transaction"];

/// Disk sizes a cluster may ask for, in GB.
pub(crate) const DISK_GB: std::ops::RangeInclusive<i64> = 10..=1000;

/// One extension a database can enable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extension {
    pub(crate) name: &'static str,
    pub(crate) default_version: &'static str,
    pub(crate) description: &'static str,
    /// Installed in every database and never removable.
    pub(crate) system: bool,
    /// Only on clusters created with `postgis_enabled`.
    pub(crate) needs_postgis: bool,
    /// Extensions enabled along with this one (as `CREATE EXTENSION … CASCADE` would).
    pub(crate) requires: &'static [&'static str],
}

const fn ext(name: &'static str, version: &'static str, description: &'static str) -> Extension {
    Extension {
        name,
        default_version: version,
        description,
        system: false,
        needs_postgis: false,
        requires: &[],
    }
}

/// The extensions on offer, by name.
pub(crate) const EXTENSIONS: &[Extension] = &[
    Extension {
        system: true,
        ..ext("plpgsql", "1.0", "The PL/pgSQL procedural language")
    },
    ext(
        "btree_gin",
        "1.3",
        "GIN operator classes for common data types",
    ),
    ext(
        "btree_gist",
        "1.7",
        "GiST operator classes for common data types",
    ),
    ext("citext", "1.6", "A case-insensitive text type"),
    ext("cube", "1.5", "A type for multi-dimensional cubes"),
    Extension {
        requires: &["cube"],
        ..ext(
            "earthdistance",
            "1.2",
            "Great-circle distances on the Earth's surface",
        )
    },
    ext(
        "fuzzystrmatch",
        "1.2",
        "Similarity and distance between strings",
    ),
    ext("hstore", "1.8", "A key/value type for sets of string pairs"),
    ext("ltree", "1.3", "A type for labels of a tree-like hierarchy"),
    ext(
        "pg_stat_statements",
        "1.11",
        "Execution statistics of SQL statements",
    ),
    ext(
        "pg_trgm",
        "1.6",
        "Text similarity from trigram matching, with index support",
    ),
    ext("pgcrypto", "1.3", "Hashing and encryption functions"),
    Extension {
        needs_postgis: true,
        ..ext(
            "postgis",
            "3.5.2",
            "Geometry and geography types and functions",
        )
    },
    Extension {
        needs_postgis: true,
        requires: &["postgis"],
        ..ext(
            "postgis_topology",
            "3.5.2",
            "Topology types and functions on top of PostGIS",
        )
    },
    ext(
        "unaccent",
        "1.1",
        "A text search dictionary that drops accents",
    ),
    ext("uuid-ossp", "1.1", "Functions that generate UUIDs"),
    ext(
        "vector",
        "0.8.0",
        "A vector type with similarity search (pgvector)",
    ),
];

/// The catalogue entry for `name`.
pub(crate) fn extension(name: &str) -> Option<&'static Extension> {
    EXTENSIONS.iter().find(|e| e.name == name)
}

/// User names that belong to the platform and cannot be created, changed or removed.
const RESERVED_USERS: &[&str] = &[
    "postgres",
    "flypgadmin",
    "repmgr",
    "pgbouncer",
    "replicator",
    "public",
];

/// Databases that belong to Postgres itself.
const SYSTEM_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// Whether a user name is reserved for the platform (`pg_` names are Postgres's own).
pub(crate) fn reserved_user(name: &str) -> bool {
    RESERVED_USERS.contains(&name) || name.starts_with("pg_")
}

/// Whether a database is one of Postgres's own.
pub(crate) fn system_database(name: &str) -> bool {
    SYSTEM_DATABASES.contains(&name)
}

/// At most 63 bytes of `allowed` characters, starting and ending with an `edge` character.
fn shaped(name: &str, edge: fn(u8) -> bool, allowed: fn(u8) -> bool) -> bool {
    let b = name.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            b.len() <= 63 && edge(first) && edge(last) && b.iter().all(|&c| allowed(c))
        }
        _ => false,
    }
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// User names: lowercase letters and digits, with `-` and `_` inside, up to 63 characters.
pub(crate) fn valid_user_name(name: &str) -> bool {
    shaped(name, lower_alnum, |c| {
        lower_alnum(c) || c == b'-' || c == b'_'
    })
}

/// Database names: letters and digits, with `-` and `_` inside, up to 63 characters.
pub(crate) fn valid_database_name(name: &str) -> bool {
    shaped(
        name,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_',
    )
}

/// Cluster names: lowercase letters, digits and `-`, starting and ending with a letter or
/// digit, up to 63 characters.
pub(crate) fn valid_cluster_name(name: &str) -> bool {
    shaped(name, lower_alnum, |c| lower_alnum(c) || c == b'-')
}

/// Extension names as the catalogue spells them: lowercase letters, digits, `-` and `_`.
pub(crate) fn valid_extension_name(name: &str) -> bool {
    shaped(name, lower_alnum, |c| {
        lower_alnum(c) || c == b'-' || c == b'_'
    })
}

/// Schema names: a lowercase letter or `_`, then lowercase letters, digits or `_`.
pub(crate) fn valid_schema_name(name: &str) -> bool {
    shaped(
        name,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_',
        |c| lower_alnum(c) || c == b'_',
    ) && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_rules() {
        assert!(valid_user_name("app_user"));
        assert!(valid_user_name("a"));
        assert!(!valid_user_name("App"));
        assert!(!valid_user_name("_app"));
        assert!(!valid_user_name("app-"));
        assert!(!valid_user_name(&"a".repeat(64)));
        assert!(valid_database_name("Customer_data-1"));
        assert!(!valid_database_name("bad name"));
        assert!(!valid_database_name(""));
        assert!(valid_cluster_name("my-db"));
        assert!(!valid_cluster_name("my_db"));
        assert!(valid_schema_name("_private"));
        assert!(!valid_schema_name("1abc"));
        assert!(reserved_user("pg_monitor") && reserved_user("postgres"));
        assert!(!reserved_user("fly-user"));
    }

    #[test]
    fn plans_match_without_case_and_extensions_requirements_exist() {
        assert_eq!(plan("PERFORMANCE").map(|p| p.slug), Some("Performance"));
        assert_eq!(plan("Basic").map(|p| p.slug), Some("basic"));
        assert!(plan("huge").is_none());
        for e in EXTENSIONS {
            for r in e.requires {
                assert!(extension(r).is_some(), "{} requires unknown {r}", e.name);
            }
        }
    }
}
