//! `graphql/schema.graphql` is generated from the code; this fails when it is stale.

#[test]
fn checked_in_schema_matches_the_code() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../graphql/schema.graphql");
    let generated = accord_api::schema_sdl();
    if std::env::var_os("ACCORD_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write graphql/schema.graphql");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "graphql/schema.graphql is stale: regenerate it with\n  \
         cargo run -q -p accord-server --bin accord -- graphql-schema > graphql/schema.graphql\n\
         (or ACCORD_UPDATE_SCHEMA=1 cargo test -p accord-api --test api schema)"
    );
}
