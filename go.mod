module github.com/wsrelay/wsrelay

go 1.26

require github.com/yuin/gopher-lua v1.1.2

require (
	github.com/lxzan/gws v1.8.9
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/chromedp/chromedp v0.23.0 // indirect
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
)
