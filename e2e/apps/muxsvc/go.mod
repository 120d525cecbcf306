module muxsvc

go 1.22

require appmain v0.0.0

replace appmain => ../appmain
