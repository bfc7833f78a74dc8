LIMIT = 10
NAME = "x"
