//! The shared backend's Lua scripts, and how they are loaded and run on Redis.

use redis::aio::ConnectionManager;

use super::SharedError;

/// The script that decides one admission (`acquire.lua`).
pub(super) fn acquire() -> LuaScript {
    LuaScript::new(include_str!("acquire.lua"))
}

/// The script that records a 429 (`penalize.lua`).
pub(super) fn penalize() -> LuaScript {
    LuaScript::new(include_str!("penalize.lua"))
}

/// A Lua script run by its SHA-1, and loaded when Redis does not have it.
///
/// Not `redis::Script`: its loading asserts (in debug builds) that Redis answered with the
/// script's SHA-1, so a Redis answering anything else would panic the caller. Here that answer
/// is an error, and the call paces locally.
pub(super) struct LuaScript {
    code: &'static str,
    hash: String,
}

impl LuaScript {
    fn new(code: &'static str) -> Self {
        LuaScript {
            code,
            hash: redis::Script::new(code).get_hash().to_string(),
        }
    }

    /// Loads the script, checking that Redis names it by its SHA-1.
    pub(super) async fn load(&self, conn: &mut ConnectionManager) -> Result<(), SharedError> {
        let hash: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.code)
            .query_async(conn)
            .await
            .map_err(|e| SharedError::Redis(format!("cannot load the limiter's script: {e}")))?;
        if hash != self.hash {
            let shown: String = hash.chars().take(64).collect();
            return Err(SharedError::OutOfBounds(format!(
                "SCRIPT LOAD answered {shown:?}, not the script's SHA-1 {}",
                self.hash
            )));
        }
        Ok(())
    }

    /// Runs the script on `key` with `args`, loading it first if Redis lost it (a restart).
    pub(super) async fn invoke<T: redis::FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        args: &[i64],
    ) -> Result<T, SharedError> {
        let mut call = redis::cmd("EVALSHA");
        call.arg(&self.hash).arg(1).arg(key).arg(args);
        match call.query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.load(conn).await?;
                call.query_async(conn)
                    .await
                    .map_err(|e| SharedError::Redis(e.to_string()))
            }
            other => other.map_err(|e| SharedError::Redis(e.to_string())),
        }
    }
}
