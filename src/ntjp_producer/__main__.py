from ntjp_producer.cli import main

raise SystemExit(main())
