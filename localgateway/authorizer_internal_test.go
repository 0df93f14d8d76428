package localgateway

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestPolicyAllows(t *testing.T) {
	const arn = "arn:aws:execute-api:local:000000000000:abc/local/$connect"
	stmt := func(effect, action, resource string) events.IAMPolicyStatement {
		return events.IAMPolicyStatement{Effect: effect, Action: []string{action}, Resource: []string{resource}}
	}
	for _, tc := range []struct {
		name string
		s    []events.IAMPolicyStatement
		want bool
	}{
		{"no statement", nil, false},
		{"exact allow", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", arn)}, true},
		{"allow, action in another case", []events.IAMPolicyStatement{stmt("allow", "Execute-API:invoke", arn)}, true},
		{"allow any action", []events.IAMPolicyStatement{stmt("Allow", "*", arn)}, true},
		{"allow execute-api:*", []events.IAMPolicyStatement{stmt("Allow", "execute-api:*", arn)}, true},
		{"stage wildcard", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "arn:aws:execute-api:local:000000000000:abc/local/*")}, true},
		{"any resource", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "*")}, true},
		{"middle wildcard over slashes", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "arn:aws:execute-api:*:abc/*")}, true},
		{"question mark", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "arn:aws:execute-api:local:000000000000:ab?/local/$connect")}, true},
		{"another API", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "arn:aws:execute-api:local:000000000000:xyz/local/*")}, false},
		{"another action", []events.IAMPolicyStatement{stmt("Allow", "execute-api:ManageConnections", arn)}, false},
		{"deny", []events.IAMPolicyStatement{stmt("Deny", "execute-api:Invoke", arn)}, false},
		{"deny wins over allow", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "*"), stmt("Deny", "execute-api:Invoke", arn)}, false},
		{"prefix only", []events.IAMPolicyStatement{stmt("Allow", "execute-api:Invoke", "arn:aws:execute-api:local:000000000000:abc/local/$conn")}, false},
	} {
		if got := allows(events.APIGatewayCustomAuthorizerPolicy{Statement: tc.s}, arn); got != tc.want {
			t.Errorf("%s: allows = %t, want %t", tc.name, got, tc.want)
		}
	}
}
