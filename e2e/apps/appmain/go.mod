module appmain

go 1.22
