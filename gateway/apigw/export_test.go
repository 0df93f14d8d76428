package apigw

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
const MaxInFlight = maxInFlight
