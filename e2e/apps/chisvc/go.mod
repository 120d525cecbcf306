module chisvc

go 1.24

require (
	appmain v0.0.0
	github.com/go-chi/chi/v5 v5.5.0
)

replace appmain => ../appmain
