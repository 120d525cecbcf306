module gorillasvc

go 1.22

require (
	appmain v0.0.0
	github.com/gorilla/mux v1.8.1
)

replace appmain => ../appmain
