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
    /// Anything else from the driver: connection loss, timeouts, bugs.
    #[error(transparent)]
    Sqlx(sqlx::Error),
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
                    _ => DbError::Sqlx(err),
                }
            }
            _ => DbError::Sqlx(err),
        }
    }
}

impl From<accord_domain::ValidationError> for DbError {
    fn from(err: accord_domain::ValidationError) -> Self {
        DbError::Corrupt(err.to_string())
    }
}
