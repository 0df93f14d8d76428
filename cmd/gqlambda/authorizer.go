package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/localgateway"
)

// authorizer invokes a Lambda REQUEST authorizer function, as API Gateway
// does before $connect (and before HTTP requests with payload format 1.0);
// it is a localgateway.AuthorizerFunc. A function error whose errorMessage
// is exactly "Unauthorized" is API Gateway's 401: localgateway's
// ErrUnauthorized.
func (iv *invoker) authorizer(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var resp events.APIGatewayCustomAuthorizerResponse
	raw, err := iv.invoke(ctx, req)
	if fe, ok := errors.AsType[*functionErr](err); ok && fe.message == localgateway.ErrUnauthorized.Error() {
		return resp, localgateway.ErrUnauthorized
	}
	if err != nil {
		return resp, err
	}
	return decodeAuthorizerAnswer(raw, iv.function)
}

// stringOrList is an IAM policy's Action or Resource: API Gateway takes a
// string or a list of strings (authorizers in Node.js often answer the
// former; aws-lambda-go's type holds only the latter).
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = many
	return nil
}

// decodeAuthorizerAnswer reads an authorizer's answer as API Gateway does.
func decodeAuthorizerAnswer(raw []byte, function string) (events.APIGatewayCustomAuthorizerResponse, error) {
	var in struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string `json:"Version"`
			Statement []struct {
				Action   stringOrList `json:"Action"`
				Effect   string       `json:"Effect"`
				Resource stringOrList `json:"Resource"`
			} `json:"Statement"`
		} `json:"policyDocument"`
		Context            map[string]any `json:"context"`
		UsageIdentifierKey string         `json:"usageIdentifierKey"`
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(raw, &in); err != nil {
		return resp, fmt.Errorf("gqlambda: authorizer %s: decode its answer: %w", function, err)
	}
	resp.PrincipalID, resp.Context, resp.UsageIdentifierKey = in.PrincipalID, in.Context, in.UsageIdentifierKey
	resp.PolicyDocument.Version = in.PolicyDocument.Version
	for _, st := range in.PolicyDocument.Statement {
		resp.PolicyDocument.Statement = append(resp.PolicyDocument.Statement,
			events.IAMPolicyStatement{Action: st.Action, Effect: st.Effect, Resource: st.Resource})
	}
	return resp, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
