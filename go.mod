module github.com/bulkstream/bulkstream

go 1.26.0

require (
	go.yaml.in/yaml/v4 v4.0.0
	golang.org/x/oauth2 v0.38.0
)
