from replay.cli import main

if __name__ == "__main__":  # python -m replay.cli (importing this module runs nothing)
    main()
