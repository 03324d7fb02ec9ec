package mattermostsim

import (
	"bytes"
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// This file serves the page at /: every channel with its posts and their
// thread replies, for people watching a demo and for the browser test.

//go:embed page.html
var pageHTML string

type pageData struct {
	Channels []pageChannel
	Posts    int
}

type pageChannel struct {
	ID, Title, Kind string
	Members         []string
	Posts           []pagePost
}

type pagePost struct {
	ID, Author, Time, RequestID string
	Message                     template.HTML // a markdown subset, escaped
	Edited                      bool
	Replies                     []pagePost
}

var (
	mdBold    = regexp.MustCompile(`\*\*([^*\n]+)\*\*`)
	mdCode    = regexp.MustCompile("`([^`\n]+)`")
	mdLink    = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// markdown renders the subset of Mattermost's markdown the bridge writes
// (headings, bold, code, links) after escaping everything else.
func markdown(s string) template.HTML {
	h := html.EscapeString(s)
	h = mdHeading.ReplaceAllString(h, "<strong class=\"h\">$1</strong>")
	h = mdBold.ReplaceAllString(h, "<b>$1</b>")
	h = mdCode.ReplaceAllString(h, "<code>$1</code>")
	h = mdLink.ReplaceAllString(h, `<a href="$2">$1</a>`)
	return template.HTML(h) //nolint:gosec // escaped above; only our own tags added
}

func (s *Server) pageRoutes(mux *http.ServeMux) {
	tmpl := template.Must(template.New("page").Parse(pageHTML))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, s.pageData()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
}

func (s *Server) pageData() pageData {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d pageData
	for _, c := range sortedChannels(s.channels) {
		pc := pageChannel{ID: c.ID, Kind: "channel"}
		for id := range c.Members {
			if u := s.users[id]; u != nil {
				pc.Members = append(pc.Members, "@"+u.Username)
			}
		}
		sort.Strings(pc.Members)
		switch {
		case c.Type == ChannelDirect:
			pc.Kind, pc.Title = "direct", "Direct: "+strings.Join(pc.Members, " ↔ ")
		default:
			team := ""
			if t := s.teams[c.TeamID]; t != nil {
				team = t.Name
			}
			pc.Title = fmt.Sprintf("%s / %s (~%s)", team, c.DisplayName, c.Name)
			if c.Type == ChannelPrivate {
				pc.Kind = "private"
			}
		}
		roots := map[string]*pagePost{}
		var order []string
		for _, id := range s.order {
			p := s.posts[id]
			if p.ChannelID != c.ID || p.DeleteAt != 0 {
				continue
			}
			pp := pagePost{ID: p.ID, Message: markdown(p.Message), Edited: p.EditAt != 0,
				Time: time.UnixMilli(p.CreateAt).UTC().Format("15:04:05")}
			if u := s.users[p.UserID]; u != nil {
				pp.Author = u.Username
			}
			if v, ok := p.Props["teleport_request_id"].(string); ok {
				pp.RequestID = v
			}
			d.Posts++
			if p.RootID == "" {
				roots[p.ID] = &pp
				order = append(order, p.ID)
			} else if root := roots[p.RootID]; root != nil {
				root.Replies = append(root.Replies, pp)
			}
		}
		for _, id := range order {
			pc.Posts = append(pc.Posts, *roots[id])
		}
		d.Channels = append(d.Channels, pc)
	}
	return d
}
