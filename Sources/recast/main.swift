print("recast")
