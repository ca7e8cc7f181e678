import type { CodegenConfig } from "@graphql-codegen/cli";

// TypeScript types and typed documents for every operation in the portals'
// `.graphql` files, from the API's schema (graphql/schema.graphql, itself
// checked against the server). `scripts/test` regenerates into a scratch
// directory (ACCORD_GQL_OUT) and fails when shared/src/gql differs.
const out = process.env.ACCORD_GQL_OUT ?? "shared/src/gql/";

const config: CodegenConfig = {
  schema: "../graphql/schema.graphql",
  documents: ["shared/src/**/*.graphql", "admin/src/**/*.graphql", "client/src/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    [out]: {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { UUID: "string", DateTime: "string", NaiveDateTime: "string", JSON: "unknown" },
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
      },
    },
  },
  hooks: {},
};

export default config;
