package jirasim

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strings"
)

// This file serves the board page: a column per status, a card per issue,
// moved (buttons or drag and drop) and commented as a chosen user through
// /_sim/move and /_sim/comment.

//go:embed board.html
var boardHTML string

type boardData struct {
	ProjectKey  string
	ProjectName string
	Flavor      string
	Version     uint64
	Users       []PublicUser
	Columns     []boardColumn
}

type boardColumn struct {
	Status Status
	Cards  []boardCard
}

type boardCard struct {
	Key       string
	Summary   string
	Requester string
	Labels    []string
	Targets   []string // statuses the card can move to
	Comments  []boardComment
}

type boardComment struct {
	Author string
	Body   string
}

func (s *Server) boardRoutes(mux *http.ServeMux) {
	tmpl := template.Must(template.New("board").Parse(boardHTML))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, s.boardData()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
}

func (s *Server) boardData() boardData {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := boardData{ProjectKey: s.opts.ProjectKey, ProjectName: s.opts.ProjectName, Flavor: s.opts.Flavor, Version: s.version, Users: s.publicUsers()}
	for _, st := range s.opts.Statuses {
		col := boardColumn{Status: st}
		for _, iss := range s.issues {
			if !strings.EqualFold(iss.status, st.Name) {
				continue
			}
			card := boardCard{Key: iss.key, Summary: iss.summary, Requester: s.requester(iss), Labels: iss.labels}
			for _, t := range s.availableTransitions(iss.status) {
				card.Targets = append(card.Targets, t.To)
			}
			for _, c := range iss.comments {
				name := c.author
				if u, ok := s.findUser(c.author); ok {
					name = u.DisplayName
				}
				card.Comments = append(card.Comments, boardComment{Author: name, Body: c.body})
			}
			col.Cards = append(col.Cards, card)
		}
		d.Columns = append(d.Columns, col)
	}
	return d
}

// requester is the Teleport user who asked, from the "<user> requested
// <roles>" summary, else the reporter.
func (s *Server) requester(iss *issue) string {
	if user, _, ok := strings.Cut(iss.summary, " requested "); ok && user != "" {
		return user
	}
	if u, ok := s.findUser(iss.reporter); ok {
		return u.DisplayName
	}
	return iss.reporter
}
