package app

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gqlambda/gqlambda"
)

// LivenessFromEnv reads the liveness settings of the Lambda functions from
// their environment (getenv), each optional: GQLAMBDA_IDLE_AFTER and
// GQLAMBDA_INIT_TIMEOUT (durations such as 5m), GQLAMBDA_PING (a boolean:
// ping idle graphql-transport-ws connections). Unset variables keep
// gqlambda's defaults. deploy/template.yaml sets them on the sweeper
// function.
func LivenessFromEnv(getenv func(string) string) (gqlambda.Liveness, error) {
	var l gqlambda.Liveness
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"GQLAMBDA_IDLE_AFTER", &l.IdleAfter}, {"GQLAMBDA_INIT_TIMEOUT", &l.InitTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		n, err := time.ParseDuration(v)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("%s is %q: want a positive duration such as 5m", d.name, v)
		}
		*d.to = n
	}
	if v := getenv("GQLAMBDA_PING"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return l, fmt.Errorf("GQLAMBDA_PING is %q: want true or false", v)
		}
		l.Ping = b
	}
	return l, nil
}
