package apigw

import (
	"net/http"
	"time"
)

// EndpointCount returns the number of endpoints c has created SDK clients
// for.
func EndpointCount(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.endpoints)
}

// Limit returns the current in-flight limit of the endpoint, or 0 if c has
// not called it yet.
func Limit(c *Client, endpoint string) int {
	c.mu.Lock()
	ep, ok := c.endpoints[endpoint]
	c.mu.Unlock()
	if !ok {
		return 0
	}
	limit, _ := ep.lim.current()
	return limit
}

// MaxInFlight is the initial in-flight limit of an endpoint.
const MaxInFlight = defaultMaxInFlight

// Sign signs req as c signs its requests, for region at t.
func Sign(c *Client, req *http.Request, hash, region string, t time.Time) error {
	return c.sign(req.Context(), req, hash, region, t)
}

// IdleConnsPerHost returns the MaxIdleConnsPerHost of c's HTTP client's
// transport, or -1 when it is not one the package built.
func IdleConnsPerHost(c *Client) int {
	t, ok := c.rt.(*http.Transport)
	if !ok {
		return -1
	}
	return t.MaxIdleConnsPerHost
}
