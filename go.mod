module github.com/wsrelay/wsrelay

go 1.26
