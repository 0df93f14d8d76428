// Package iactest holds no code, only tests: they check that the
// infrastructure as code in deploy/ (the SAM template deploy/template.yaml
// and the Terraform file deploy/dynamodb.tf) defines the tables of
// dynamodb.TableDefinitions and grants what the store's DynamoDB calls need.
//
// It is a module of its own (github.com/gqlambda/gqlambda/deploy/iactest)
// so that the parsers these tests need (HCL, go-cty and YAML) are not
// requirements of github.com/gqlambda/gqlambda. Its go.mod replaces
// github.com/gqlambda/gqlambda with the repository's root, so the tests run
// against the working tree. Run them with
//
//	cd deploy/iactest && go test ./...
//
// scripts/test runs them too.
package iactest
