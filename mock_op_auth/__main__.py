from mock_op_auth.cli import main

raise SystemExit(main())
