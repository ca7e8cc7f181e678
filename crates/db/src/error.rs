use thiserror::Error;

/// What can go wrong in the data layer, sorted by what the caller should tell the user.
#[derive(Debug, Error)]
pub enum DbError {
    /// No row, or a row the current tenant may not see (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference rule refused the write; `constraint` names the rule.
    #[error("conflicts with existing data ({constraint})")]
    Conflict {
        /// The Postgres constraint that refused the write.
        constraint: String,
    },
    /// The acting user is not (or no longer) a member of the org.
    #[error("not a member of this organization")]
    NotAMember,
    /// Stored data that no longer parses as a domain value: a bug or manual tampering.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database could not be reached, or the connection was lost or
    /// refused mid-statement (server restarting, network cut, pool exhausted).
    /// Nothing in the failed transaction was kept; the request may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Anything else from the driver: bugs, unexpected server errors.
    #[error(transparent)]
    Sqlx(sqlx::Error),
}

impl DbError {
    /// Whether this is [`DbError::Unavailable`]: a failure of the connection,
    /// not of the statement, so the same work may succeed on a fresh one.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// Whether `err` is the connection failing rather than the statement: I/O
/// errors, a pool that cannot hand out a connection in time, a connection
/// the server closed, and the SQLSTATEs of class 08 (connection exception)
/// and 57P01-57P03 (the server shutting down, crashed, or still starting),
/// 53300 (too many connections).
pub fn is_connection_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(db) => {
                // 23505 unique_violation, 23503 foreign_key_violation: the caller's input
                // collides with existing data; 42501 from a WITH CHECK policy means a
                // write aimed at another tenant, which we report as not found.
                match db.code().as_deref() {
                    Some("23505") | Some("23503") => DbError::Conflict {
                        constraint: db.constraint().unwrap_or("unknown").to_owned(),
                    },
                    Some("42501") => DbError::NotFound,
                    _ if is_connection_error(&err) => DbError::Unavailable(err),
                    _ => DbError::Sqlx(err),
                }
            }
            _ if is_connection_error(&err) => DbError::Unavailable(err),
            _ => DbError::Sqlx(err),
        }
    }
}

impl From<accord_domain::ValidationError> for DbError {
    fn from(err: accord_domain::ValidationError) -> Self {
        DbError::Corrupt(err.to_string())
    }
}
