package dnsd

import (
	"github.com/moatdns/moat/internal/cache"
)

// The fast path answers a UDP query from the cache's pre-packed reply
// without parsing it into a message or running the pipeline: a pure
// function of the query bytes and the cache entry. It only answers what
// the pipeline itself answered from the cache under the current state
// (cache.Confirm, called by answerFromCache), for the same query shape,
// and only while the configuration allows it (fastPathAllowed): any new
// configuration or local data is a new state, and the pipeline sees each
// entry again before the fast path serves it. Anything unusual (EDNS
// options, the DO bit, several questions, a reply that needs compression
// or truncation, an expired or stale entry) falls back to the pipeline.

// fastAnswer writes the cached reply to pkt into dst (capacity
// fastReplyMax) and returns it, or reports false. q is scratch space.
func (s *Server) fastAnswer(st *state, pkt []byte, q *cache.Query, dst []byte, now uint32) ([]byte, bool) {
	if !cache.ParseQuery(pkt, q) || fastBypassesCache(q) { // RD=0 (compat_query.go)
		return nil, false
	}
	s.sizeFastQuery(st, q)
	q.MaxSize = min(q.MaxSize, fastReplyMax)
	return st.cache.AppendFast(dst, q, st.fast.stamp, now)
}
