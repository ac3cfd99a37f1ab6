// ModelGraph module
